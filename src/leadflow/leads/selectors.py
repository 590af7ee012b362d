"""Reads on leads. Row-level access is decided here, once, for the UI and the API alike."""

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Func, IntegerField, OrderBy, Q, QuerySet
from django.db.models.expressions import Combinable
from django.db.models.functions import Lower

from leadflow.access.models import Role, User
from leadflow.core.config import config_cached
from leadflow.core.db import hot_cursor, in_values
from leadflow.leads.fields import CustomFieldSpec
from leadflow.leads.models import FUNNEL, Activity, CustomField, Lead, Source, Stage, Status, Task


def lead_visible(*, viewer: User | None) -> QuerySet[Lead]:
    """The leads `viewer` may see; None is a system principal (CLI, unbound API key) that sees all.

    A rep sees their own leads and the unassigned pool of their teams; a manager sees their
    teams' leads and their own; marketing and admins see everything.
    """
    leads = Lead.objects.all()
    if viewer is None or viewer.sees_all_leads:
        return leads
    team_ids = _team_ids(viewer)
    if viewer.role == Role.MANAGER:
        return leads.filter(Q(owner=viewer) | Q(team_id__in=team_ids))
    return leads.filter(Q(owner=viewer) | Q(owner__isnull=True, team_id__in=team_ids))


def _team_ids(user: User) -> list[int]:
    """The teams `user` belongs to, plus those they manage when they are a manager."""
    team_ids = list(user.memberships.values_list("team_id", flat=True))
    if user.role == Role.MANAGER:
        team_ids += list(user.managed_teams.values_list("id", flat=True))
    return team_ids


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


def decode_cursor(cursor: str, *, size: int = 2) -> list[Any]:
    """The `size` values a cursor holds (the sort values, then the id)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):
        raise CursorError("The cursor is not valid; use next_cursor from a previous page.") from None
    if not isinstance(values, list) or len(values) != size:
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


@dataclass(frozen=True)
class SortColumn:
    """One column of a lead ordering; `kind` ("text", "int" or "datetime") checks cursor values."""

    expression: Combinable
    kind: str
    nullable: bool = False


# Lifecycle stages in funnel order, then the two ways out of it.
STAGE_ORDER = [*FUNNEL, Stage.RECYCLED, Stage.DISQUALIFIED]


class StageRank(Func):
    """A stage's place in STAGE_ORDER. The stages are written into the SQL as literals (not parameters)
    so that SQLite, like PostgreSQL, matches an index on the same expression."""

    template = (
        "CASE %(expressions)s "
        + " ".join(f"WHEN '{stage.value}' THEN {rank}" for rank, stage in enumerate(STAGE_ORDER))
        + f" ELSE {len(STAGE_ORDER)} END"
    )
    output_field = IntegerField()


# Orders of the lead list: a key sorts by its columns, then by id, all ascending ("-key": descending).
# Every order is a keyset over Lead's own columns, so an index on (columns, id) makes each page a range
# scan at any depth. Text sorts ignore case. "owner" groups leads by owner (in user id order: sorting by
# the owner's name would need a join and a sort of every matching lead). A NULL sorts as the largest
# value: unassigned leads come last in ascending order and first in descending order, on SQLite and
# PostgreSQL alike.
LEAD_ORDERS: dict[str, tuple[SortColumn, ...]] = {
    "created": (SortColumn(F("created_at"), "datetime"),),
    "score": (SortColumn(F("score"), "int"),),
    "name": (SortColumn(Lower("last_name"), "text"), SortColumn(Lower("first_name"), "text")),
    "company": (SortColumn(Lower("company"), "text"),),
    "stage": (SortColumn(StageRank("stage"), "int"),),
    "owner": (SortColumn(F("owner_id"), "int", nullable=True),),
}
DEFAULT_LEAD_ORDER = "-created"


class OrderError(ValueError):
    """An order the lead list does not know."""


def lead_order_columns(order: str) -> tuple[bool, tuple[SortColumn, ...]]:
    """(descending, columns) for an order such as "score" or "-score"."""
    descending = order.startswith("-")
    columns = LEAD_ORDERS.get(order.removeprefix("-"))
    if columns is None:
        raise OrderError(
            f"Unknown order {order!r}; choose from {', '.join(LEAD_ORDERS)} (prefix - to reverse)."
        )
    return descending, columns


def lead_list(
    *,
    viewer: User | None,
    filters: LeadFilters,
    cursor: str | None = None,
    limit: int = 50,
    order: str = DEFAULT_LEAD_ORDER,
) -> Page:
    """The leads `viewer` may see that match `filters`, in `order` (newest first by default).

    Pages are cut by keyset on (sort columns, id): the cursor holds the last row's sort values and id,
    so a deep page costs the same as the first (an index on the same columns makes it a range scan).
    """
    descending, columns = lead_order_columns(order)
    names = [f"keyset_{position}" for position in range(len(columns))]
    leads = (
        lead_filter(lead_visible(viewer=viewer), filters)
        .select_related("owner", "team", "source")
        .annotate(**{name: column.expression for name, column in zip(names, columns, strict=True)})
    )
    stretches = [Q()]
    if cursor:
        *raw_values, last_id = decode_cursor(cursor, size=len(columns) + 1)
        values = _cursor_values(columns, raw_values, last_id)
        stretches = _keyset_stretches(names, columns, values, last_id, descending=descending)
    ordering: list[OrderBy] = []
    for name, column in zip(names, columns, strict=True):
        if descending:
            ordering.append(F(name).desc(nulls_first=True if column.nullable else None))
        else:
            ordering.append(F(name).asc(nulls_last=True if column.nullable else None))
    ordering.append(F("id").desc() if descending else F("id").asc())
    items: list[Lead] = []
    for stretch in stretches:  # a second query only when a page runs on from one stretch into the next
        items += leads.filter(stretch).order_by(*ordering)[: limit + 1 - len(items)]
        if len(items) > limit:
            break
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        last_values = [getattr(last, name) for name in names]
        next_cursor = encode_cursor(
            [value.isoformat() if isinstance(value, datetime) else value for value in last_values] + [last.pk]
        )
    return Page(items=items, next_cursor=next_cursor)


def lead_iter(
    *, viewer: User | None, filters: LeadFilters, order: str = DEFAULT_LEAD_ORDER, chunk_size: int = 1000
) -> Iterator[Lead]:
    """Every lead lead_list would page through, fetched a keyset chunk at a time (for exports)."""
    cursor = None
    while True:
        page = lead_list(viewer=viewer, filters=filters, cursor=cursor, limit=chunk_size, order=order)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _cursor_values(columns: Sequence[SortColumn], values: list[Any], last_id: Any) -> list[Any]:
    """The cursor's sort values as query values; CursorError when one cannot be a value of its column."""
    invalid = CursorError("The cursor is not valid for this order; start from the first page.")
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise invalid
    checked: list[Any] = []
    for column, value in zip(columns, values, strict=True):
        if value is None:
            if not column.nullable:
                raise invalid
        elif column.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise invalid
        elif not isinstance(value, str):
            raise invalid
        elif column.kind == "datetime":
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise invalid from None
            if moment.tzinfo is None:
                raise invalid
            checked.append(moment)
            continue
        checked.append(value)
    return checked


def _keyset_stretches(
    names: list[str], columns: Sequence[SortColumn], values: list[Any], last_id: int, *, descending: bool
) -> list[Q]:
    """The rows after the cursor row, as conditions for consecutive stretches of the order.

    After (v1, v2, n): (c1 > v1) OR (c1 = v1 AND ((c2 > v2) OR (c2 = v2 AND id > n))), plus a redundant
    c1 >= v1 so the database starts an index range scan at the cursor. A nullable first column is split
    into its non-NULL and its NULL stretch: one condition "… OR c1 IS NULL" would make the database read
    every row before the cursor instead.
    """
    after = Q(id__lt=last_id) if descending else Q(id__gt=last_id)
    for name, column, value in reversed(list(zip(names[1:], columns[1:], values[1:], strict=True))):
        tied = Q(**{f"{name}__isnull": True}) if value is None else Q(**{name: value})
        beyond = _beyond(name, column, value, descending=descending)
        after = (tied & after) if beyond is None else beyond | (tied & after)
    first, value = names[0], values[0]
    if value is None:  # the cursor is in the NULL stretch (last ascending, first descending)
        stretches = [Q(**{f"{first}__isnull": True}) & after]
        if descending:
            stretches.append(Q(**{f"{first}__isnull": False}))
        return stretches
    bound = Q(**{f"{first}__lte" if descending else f"{first}__gte": value})
    strictly = Q(**{f"{first}__lt" if descending else f"{first}__gt": value})
    stretches = [bound & (strictly | (Q(**{first: value}) & after))]
    if columns[0].nullable and not descending:
        stretches.append(Q(**{f"{first}__isnull": True}))
    return stretches


def _beyond(name: str, column: SortColumn, value: Any, *, descending: bool) -> Q | None:
    """Rows whose `name` sorts strictly after `value`, NULL being the largest; None when there are none."""
    if value is None:
        return Q(**{f"{name}__isnull": False}) if descending else None
    beyond = Q(**{f"{name}__lt" if descending else f"{name}__gt": value})
    if column.nullable and not descending:
        beyond |= Q(**{f"{name}__isnull": True})
    return beyond


def lead_inbox_new(*, owner: User, limit: int = 20) -> list[Lead]:
    """`owner`'s new leads that nobody has responded to yet, the most recently assigned first."""
    return list(
        Lead.objects.filter(owner=owner, status=Status.NEW, first_response_at__isnull=True).order_by(
            F("assigned_at").desc(nulls_last=True), "-id"
        )[:limit]
    )


def lead_hot(*, viewer: User, min_score: int, limit: int = 10) -> list[Lead]:
    """The highest-scoring leads `viewer` may see, from `min_score` up."""
    return list(
        lead_visible(viewer=viewer)
        .filter(score__gte=min_score)
        .select_related("owner")
        .order_by("-score", "-id")[:limit]
    )


def lead_pool(*, viewer: User, limit: int = 20) -> list[Lead]:
    """The unassigned leads of `viewer`'s teams that `viewer` may see, oldest first (they waited longest)."""
    return list(
        lead_visible(viewer=viewer)
        .filter(owner__isnull=True, team_id__in=_team_ids(viewer))
        .select_related("team")
        .order_by("created_at", "id")[:limit]
    )


def task_open_due(*, assignee: User, due_before: datetime, limit: int = 50) -> list[Task]:
    """`assignee`'s open tasks due before `due_before` on leads they may see, the most overdue first."""
    return list(
        Task.objects.filter(
            assignee=assignee,
            done_at__isnull=True,
            due_at__lt=due_before,
            lead__in=lead_visible(viewer=assignee),
        )
        .select_related("lead")
        .order_by("due_at", "id")[:limit]
    )


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


def identities_owners(*, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, value) → id of the lead it identifies, for the keys that are known: one prepared statement,
    run by every capture (the unique (kind, value) index answers it)."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        # One index lookup per pair, whatever the planner's statistics say (a list of kinds and a list of
        # values made it scan every identity of those kinds once its statistics were out of date).
        pairs = sorted(keys)
        sql = (
            "SELECT i.kind, i.value, i.lead_id FROM unnest(%s::text[], %s::text[]) AS w(kind, value) "
            "JOIN leads_leadidentity i ON i.kind = w.kind AND i.value = w.value"
        )
        params: list[Any] = [[kind for kind, _ in pairs], [value for _, value in pairs]]
    else:
        kind_test, kind_params = in_values(sorted({kind for kind, _ in keys}))
        value_test, value_params = in_values(sorted({value for _, value in keys}))
        sql = (
            "SELECT kind, value, lead_id FROM leads_leadidentity "
            f"WHERE kind {kind_test} AND value {value_test}"
        )
        params = [*kind_params, *value_params]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {(kind, value): lead_id for kind, value, lead_id in rows if (kind, value) in keys}


def sources_by_name() -> dict[str, Source]:
    """Every source by its lower-cased name (cached per configuration generation: the instances are
    shared, read them only)."""
    return config_cached("leads.sources_by_name", lambda: {s.name.lower(): s for s in Source.objects.all()})


def custom_field_specs() -> dict[str, CustomFieldSpec]:
    """The custom field catalogue (cached per configuration generation; the dict is the caller's)."""
    return dict(config_cached("leads.custom_field_specs", _custom_field_specs_load))


def _custom_field_specs_load() -> dict[str, CustomFieldSpec]:
    return {
        key: CustomFieldSpec(key=key, label=label, field_type=field_type, choices=list(choices))
        for key, label, field_type, choices in CustomField.objects.values_list(
            "key", "label", "field_type", "choices"
        )
    }
