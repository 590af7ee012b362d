"""Reads for users, teams and API keys."""

from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from leadflow.access.models import ApiKey, Role, Team, User
from leadflow.access.services import hash_api_key
from leadflow.core.db import rows_matching

# A key's last-used time is refreshed at most this often, so busy keys cost no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The live key matching a presented secret, touching its last-used time."""
    keys = rows_matching(ApiKey, "key_hash", [hash_api_key(secret)], related="user")
    api_key = next((key for key in keys if key.revoked_at is None), None)
    now = timezone.now()
    if api_key is not None and (
        api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION
    ):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def user_assignable(*, viewer: User) -> QuerySet[User]:
    """People `viewer` may hand leads to: anyone for admins and marketing, their teams' members for
    managers, and themselves and their teammates for reps."""
    users = User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")
    if viewer.sees_all_leads:
        return users
    team_ids = list(viewer.memberships.values_list("team_id", flat=True))
    if viewer.role == Role.MANAGER:
        team_ids += list(viewer.managed_teams.values_list("id", flat=True))
    return users.filter(Q(pk=viewer.pk) | Q(memberships__team_id__in=team_ids)).distinct()


def user_list_for_admin(
    *, viewer: User, q: str = "", role: str = "", active: bool | None = None
) -> QuerySet[User]:
    """Everyone, with their teams, for user management (admins only; nobody for anyone else)."""
    if not (viewer.role == Role.ADMIN or viewer.is_superuser):
        return User.objects.none()
    people = User.objects.prefetch_related(
        Prefetch("teams", queryset=Team.objects.order_by("name")), "managed_teams"
    ).order_by("-is_active", "first_name", "last_name", "username")
    if role in Role.values:
        people = people.filter(role=role)
    if active is not None:
        people = people.filter(is_active=active)
    for word in q.split()[:5]:
        people = people.filter(
            Q(username__icontains=word)
            | Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
        )
    return people
