"""Writes for users, teams and API keys."""

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

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


class UserChangeError(ValueError):
    """A change to a person that is not allowed; str(err) says why."""


@cache
def timezone_names() -> frozenset[str]:
    """The IANA time zone names this system knows ("localtime" is the host's setting, not a name)."""
    return frozenset(available_timezones() - {"localtime"})


def _check_role_and_timezone(*, role: str | None, timezone: str | None) -> None:
    if role is not None and role not in Role.values:
        raise UserChangeError(f"Unknown role {role!r}; choose from {Role.values}.")
    if timezone is not None and timezone not in timezone_names():
        raise UserChangeError(f"{timezone!r} is not an IANA time zone such as Europe/Paris.")


@transaction.atomic
def user_add(
    *,
    username: str,
    password: str | None,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    timezone: str = "UTC",
    teams: list[Team] | None = None,
    accepts_leads: bool = True,
) -> User:
    """Creates a person; without a password, they will choose their own from an emailed link.

    Until then their password is a random secret that nobody knows, so the sign-in page's
    "Forgot your password?" also works for them should the first link expire.
    """
    if not password and not email:
        raise UserChangeError("A person who chooses their own password needs an email address.")
    _check_role_and_timezone(role=role, timezone=timezone)
    user = user_create(
        username=username,
        password=password or secrets.token_urlsafe(32),
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        timezone=timezone,
        teams=teams,
    )
    if not accepts_leads:
        user.accepts_leads = False
        user.save(update_fields=["accepts_leads"])
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User | None,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    timezone: str | None = None,
    accepts_leads: bool | None = None,
    teams: list[Team] | None = None,
) -> User:
    """Changes a person's profile, role and team memberships; None leaves a value as it is.

    Admin rights (is_staff, is_superuser) follow the role. Nobody can take away their own admin role.
    """
    _check_role_and_timezone(role=role, timezone=timezone)
    role_changes = role is not None and role != user.role
    if role_changes and actor is not None and actor.pk == user.pk and role != Role.ADMIN:
        raise UserChangeError("You cannot remove your own admin role; ask another admin.")
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "role": role,
        "timezone": timezone,
        "accepts_leads": accepts_leads,
    }
    changed = [name for name, value in values.items() if value is not None and getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if role_changes:
        user.is_staff = user.is_superuser = role == Role.ADMIN
        changed += ["is_staff", "is_superuser"]
    if changed:
        user.save(update_fields=changed)
    if teams is not None:
        user_teams_set(user=user, teams=teams)
    return user


@transaction.atomic
def user_teams_set(*, user: User, teams: list[Team]) -> None:
    """Makes `teams` exactly the teams the person is a member of; kept memberships keep their weight."""
    wanted = {team.pk for team in teams}
    current = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    Membership.objects.filter(user=user, team_id__in=current - wanted).delete()
    Membership.objects.bulk_create([Membership(user=user, team_id=team_id) for team_id in wanted - current])


def user_set_active(*, user: User, is_active: bool, actor: User | None) -> User:
    """Deactivates (or reactivates) a person. People are never deleted: their leads keep their history.

    A deactivated person cannot sign in and receives no new leads; the leads they own stay theirs
    until someone reassigns them. Nobody can deactivate themselves.
    """
    if not is_active and actor is not None and actor.pk == user.pk:
        raise UserChangeError("You cannot deactivate yourself; ask another admin.")
    if user.is_active != is_active:
        user.is_active = is_active
        user.save(update_fields=["is_active"])
    return user
