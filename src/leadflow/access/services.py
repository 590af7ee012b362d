"""Writes for users, teams and API keys."""

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from leadflow.access.models import ApiKey, ApiScope, Membership, Role, Team, User


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, name: str, scopes: list[str], actor: User | None = None, user: User | None = None
) -> IssuedApiKey:
    """Issues a key; the returned secret is the only time it is ever visible."""
    unknown = set(scopes) - set(ApiScope.values)
    if unknown or not scopes:
        raise ValueError(f"Unknown or missing scope(s): {sorted(unknown)}; choose from {ApiScope.values}.")
    prefix = secrets.token_hex(4)
    secret = f"lf_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=hash_api_key(secret),
        scopes=sorted(set(scopes)),
        created_by=actor,
        user=user,
    )
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, prefix: str) -> ApiKey:
    """Stops a key from authenticating; revoking it again keeps the first revocation time."""
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise ValueError(f"No API key has the prefix {prefix!r}.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def user_create(
    *,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    timezone: str = "UTC",
    teams: list[Team] | None = None,
) -> User:
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; choose from {Role.values}.")
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            password=password,
            email=email,
            first_name=first_name,
            last_name=last_name,
            role=role,
            timezone=timezone,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        for team in teams or []:
            Membership.objects.create(team=team, user=user)
    return user


def team_create(*, name: str, manager: User | None = None, is_default: bool = False) -> Team:
    return Team.objects.create(name=name, manager=manager, is_default=is_default)


def team_member_add(*, team: Team, user: User, weight: int = 1) -> Membership:
    membership, _ = Membership.objects.get_or_create(team=team, user=user, defaults={"weight": weight})
    return membership
