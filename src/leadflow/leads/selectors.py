"""Reads on leads. Row-level access is decided here, once, for the UI and the API alike."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from leadflow.access.models import Role, User
from leadflow.leads.fields import CustomFieldSpec
from leadflow.leads.models import Activity, CustomField, Lead


def lead_visible(*, viewer: User | None) -> QuerySet[Lead]:
    """The leads `viewer` may see; None is a system principal (CLI, unbound API key) that sees all.

    A rep sees their own leads and the unassigned pool of their teams; a manager sees their
    teams' leads and their own; marketing and admins see everything.
    """
    leads = Lead.objects.all()
    if viewer is None or viewer.sees_all_leads:
        return leads
    team_ids = list(viewer.memberships.values_list("team_id", flat=True))
    if viewer.role == Role.MANAGER:
        team_ids += list(viewer.managed_teams.values_list("id", flat=True))
        return leads.filter(Q(owner=viewer) | Q(team_id__in=team_ids))
    return leads.filter(Q(owner=viewer) | Q(owner__isnull=True, team_id__in=team_ids))


def lead_get(*, lead_id: int, viewer: User | None) -> Lead | None:
    """The lead if it exists and `viewer` may see it; None otherwise (so existence never leaks)."""
    return (
        lead_visible(viewer=viewer)
        .select_related("owner", "team", "source", "first_touch", "last_touch")
        .filter(pk=lead_id)
        .first()
    )


@dataclass(frozen=True)
class LeadFilters:
    stage: str | None = None
    status: str | None = None
    owner_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    source_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    score_min: int | None = None
    score_max: int | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


class CursorError(ValueError):
    """A pagination cursor that was not issued by us."""


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):
        raise CursorError("The cursor is not valid; use next_cursor from a previous page.") from None
    if not isinstance(values, list) or len(values) != 2:
        raise CursorError("The cursor is not valid; use next_cursor from a previous page.")
    return values


def lead_filter(queryset: QuerySet[Lead], filters: LeadFilters) -> QuerySet[Lead]:
    f = filters
    conditions = Q()
    if f.stage:
        conditions &= Q(stage=f.stage)
    if f.status:
        conditions &= Q(status=f.status)
    if f.owner_id is not None:
        conditions &= Q(owner_id=f.owner_id)
    if f.unassigned:
        conditions &= Q(owner__isnull=True)
    if f.team_id is not None:
        conditions &= Q(team_id=f.team_id)
    if f.source_id is not None:
        conditions &= Q(source_id=f.source_id)
    if f.created_from:
        conditions &= Q(created_at__gte=f.created_from)
    if f.created_to:
        conditions &= Q(created_at__lt=f.created_to)
    if f.score_min is not None:
        conditions &= Q(score__gte=f.score_min)
    if f.score_max is not None:
        conditions &= Q(score__lte=f.score_max)
    if f.q:
        for word in f.q.split()[:5]:
            conditions &= (
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(email_normalized__contains=word.lower())
                | Q(company__icontains=word)
            )
    return queryset.filter(conditions)


def lead_list(
    *, viewer: User | None, filters: LeadFilters, cursor: str | None = None, limit: int = 50
) -> Page:
    """Newest leads first, paginated by keyset on (created_at, id) so deep pages stay fast."""
    leads = lead_filter(lead_visible(viewer=viewer), filters).select_related("owner", "team", "source")
    if cursor:
        created_at, lead_id = decode_cursor(cursor)
        created = datetime.fromisoformat(created_at)
        leads = leads.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=lead_id))
    items = list(leads.order_by("-created_at", "-id")[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.pk])
    return Page(items=items, next_cursor=next_cursor)


def activity_timeline(
    *, lead: Lead, kinds: list[str] | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """The lead's timeline, newest first, keyset-paginated."""
    activities = Activity.objects.filter(lead=lead).select_related("actor")
    if kinds:
        activities = activities.filter(kind__in=kinds)
    if cursor:
        occurred_at, activity_id = decode_cursor(cursor)
        occurred = datetime.fromisoformat(occurred_at)
        activities = activities.filter(
            Q(occurred_at__lt=occurred) | Q(occurred_at=occurred, id__lt=activity_id)
        )
    items = list(activities.order_by("-occurred_at", "-id")[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor([items[-1].occurred_at.isoformat(), items[-1].pk])
    return Page(items=items, next_cursor=next_cursor)


def custom_field_specs() -> dict[str, CustomFieldSpec]:
    return {
        key: CustomFieldSpec(key=key, label=label, field_type=field_type, choices=list(choices))
        for key, label, field_type, choices in CustomField.objects.values_list(
            "key", "label", "field_type", "choices"
        )
    }
