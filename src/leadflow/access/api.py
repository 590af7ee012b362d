"""API authentication: bearer API keys for machines, the session for people using the UI."""

from dataclasses import dataclass, field

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer

from leadflow.access.models import ApiKey, ApiScope, Role, User
from leadflow.access.selectors import api_key_authenticate


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (session or user-bound key) or a system key that sees all leads."""

    user: User | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    api_key: ApiKey | None = None

    @property
    def viewer(self) -> User | None:
        return self.user

    def require(self, scope: str) -> None:
        if ApiScope.ADMIN not in self.scopes and scope not in self.scopes:
            raise HttpError(403, f"This key lacks the '{scope}' scope.")


class ApiKeyBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        api_key = api_key_authenticate(secret=token)
        if api_key is None:
            return None
        return Principal(user=api_key.user, scopes=frozenset(api_key.scopes), api_key=api_key)


class SessionAuth(APIKeyCookie):
    """A signed-in person; unsafe methods need the CSRF token, as in the UI."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        user = request.user
        if not user.is_authenticated or not isinstance(user, User):
            return None
        scopes = {ApiScope.CAPTURE, ApiScope.READ, ApiScope.WRITE}
        if user.is_superuser or user.role == Role.ADMIN:
            scopes.add(ApiScope.ADMIN)
        return Principal(user=user, scopes=frozenset(scopes))


def principal(request: HttpRequest) -> Principal:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Principal):
        raise HttpError(401, "Authentication required.")
    return auth


AUTH = [ApiKeyBearer(), SessionAuth()]
