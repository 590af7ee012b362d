"""Reads for routing: the lead field catalogue, the data a batch of decisions needs, and the simulator."""

import copy
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from leadflow.access.models import Membership, Team, User
from leadflow.core.conditions import compile_condition
from leadflow.core.config import config_cached
from leadflow.core.db import hot_cursor, in_values, json_read
from leadflow.hygiene.normalize import is_free_mail
from leadflow.leads.fields import STANDARD_FIELDS
from leadflow.leads.models import Lead, Source, Stage, Status
from leadflow.leads.selectors import custom_field_specs, lead_get
from leadflow.routing import engine
from leadflow.routing.models import (
    Notification,
    OutOfOffice,
    RepSchedule,
    RoundRobinState,
    RoutingRule,
    RoutingSettings,
    TeamHoliday,
)

NUMBER_FIELDS = {"annual_revenue", "score", "fit_score", "engagement_score"}
CHOICE_FIELDS = {"stage", "status"}
EXTRA_FIELDS = ("source", "score", "fit_score", "engagement_score", "grade", "stage", "status")
CLOSED_STAGES = (Stage.CUSTOMER, Stage.DISQUALIFIED)
CUSTOM_TYPES = {"text": "text", "number": "number", "date": "date", "boolean": "boolean", "choice": "choice"}


class UnknownFieldsError(ValueError):
    """Typed-in fields the simulator does not know, one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def routing_fields() -> dict[str, str]:
    """The lead fields rules may test (name → condition type), including source, score and custom fields."""
    fields = dict.fromkeys((*STANDARD_FIELDS, *EXTRA_FIELDS), "text")
    fields.update(dict.fromkeys(NUMBER_FIELDS, "number"))
    fields.update(dict.fromkeys(CHOICE_FIELDS, "choice"))
    for key, spec in custom_field_specs().items():
        fields[f"custom.{key}"] = CUSTOM_TYPES.get(spec.field_type, "text")
    return fields


def lead_record(lead: Lead, *, source_name: str = "") -> dict[str, Any]:
    """The values of a lead that rules test, keyed like routing_fields()."""
    record: dict[str, Any] = {name: getattr(lead, name) for name in STANDARD_FIELDS}
    for name in ("score", "fit_score", "engagement_score", "grade", "stage", "status"):
        record[name] = getattr(lead, name)
    record["source"] = source_name
    for key, value in (lead.custom or {}).items():
        record[f"custom.{key}"] = value
    return record


def routing_settings_get() -> RoutingSettings:
    """The routing settings (cached per configuration generation; the copy is the caller's)."""
    return copy.copy(
        config_cached("routing.settings", lambda: RoutingSettings.objects.first() or RoutingSettings())
    )


def routing_rule_list() -> QuerySet[RoutingRule]:
    return RoutingRule.objects.select_related("target_user", "target_team").order_by("position", "id")


def rules_compiled() -> tuple[list[engine.Rule], dict[str, str]]:
    """The active rules in order, compiled, and the field catalogue they were compiled against
    (cached per configuration generation)."""
    return config_cached("routing.rules", _rules_compile)


def _rules_compile() -> tuple[list[engine.Rule], dict[str, str]]:
    active = list(RoutingRule.objects.filter(is_active=True).order_by("position", "id"))
    if not active:
        return [], {}
    fields = routing_fields()
    rules = [
        engine.Rule(
            id=rule.pk,
            name=rule.name,
            condition=rule.condition,
            predicate=compile_condition(rule.condition, fields),
            target=rule.target,
            user_id=rule.target_user_id,
            team_id=rule.target_team_id,
        )
        for rule in active
    ]
    return rules, fields


def source_names(source_ids: Iterable[int | None]) -> dict[int, str]:
    names = config_cached("routing.source_names", lambda: dict(Source.objects.values_list("pk", "name")))
    return {pk: names[pk] for pk in source_ids if pk is not None and pk in names}


def account_owners(*, leads: list[Lead], inferred: bool = True) -> list[tuple[int, str] | None]:
    """Per lead, the active owner of its account and what that owner owns: the account the lead is linked
    to (by domain, company name or by hand), else the account of its company domain, else, when
    ``inferred``, the owner of the oldest other owned lead on that domain (free-mail domains never match).
    Accounts and links come from one query."""
    saved = [lead.pk for lead in leads if lead.pk]
    domains = {
        lead.company_domain for lead in leads if lead.company_domain and not is_free_mail(lead.company_domain)
    }
    linked: dict[int, tuple[int, str]] = {}
    owners: dict[str, int] = {}
    if saved or domains:
        for domain, owner_id, name, lead_id in _accounts_with_owners(saved, sorted(domains)):
            if lead_id is not None:
                linked[lead_id] = (owner_id, f"account {name}")
            if domain in domains:
                owners[domain] = owner_id
    found = [linked.get(lead.pk) if lead.pk else None for lead in leads]
    unowned = {
        lead.company_domain
        for lead, owner in zip(leads, found, strict=True)
        if owner is None and lead.company_domain in domains and lead.company_domain not in owners
    }
    if inferred and unowned:
        rows_inferred = (
            Lead.objects.filter(company_domain__in=unowned, owner__isnull=False, owner__is_active=True)
            .exclude(pk__in=saved)
            .order_by("company_domain", "created_at", "id")
            .values_list("company_domain", "owner_id")
        )
        for domain, owner_id in rows_inferred:
            owners.setdefault(domain, owner_id)
    return [
        owner
        if owner is not None or lead.company_domain not in owners
        else (owners[lead.company_domain], lead.company_domain)
        for lead, owner in zip(leads, found, strict=True)
    ]


def _accounts_with_owners(lead_ids: list[int], domains: list[str]) -> list[tuple[str, int, str, int | None]]:
    """(domain, owner id, name, linked lead id or None) of the accounts with an active owner that are on
    one of the domains or linked to one of the leads: one prepared statement, run by every capture."""
    lead_test, lead_params = in_values(lead_ids)
    domain_test, domain_params = in_values(domains)
    with hot_cursor() as cursor:
        cursor.execute(
            "SELECT a.domain, a.owner_id, a.name, l.lead_id FROM pipeline_account a "
            "JOIN access_user u ON u.id = a.owner_id AND u.is_active "
            f"LEFT JOIN pipeline_accountlead l ON l.account_id = a.id AND l.lead_id {lead_test} "
            f"WHERE a.domain {domain_test} OR l.lead_id IS NOT NULL",
            [*lead_params, *domain_params],
        )
        return cursor.fetchall()


def teams_plans() -> Mapping[int, engine.TeamPlan]:
    """Every team with its distribution settings, members and holidays (cached per configuration
    generation: shared, never to be changed)."""
    return config_cached("routing.teams", _teams_load)


def _teams_load() -> dict[int, engine.TeamPlan]:
    rows = Team.objects.values_list(
        "id",
        "name",
        "manager_id",
        "is_default",
        "routing__method",
        "routing__daily_cap",
        "routing__open_cap",
        "routing__fallback",
        "routing__fallback_team_id",
    )
    plans = {}
    for team_id, name, manager_id, is_default, method, daily_cap, open_cap, fallback, fallback_to in rows:
        plans[team_id] = engine.TeamPlan(
            id=team_id,
            name=name,
            manager_id=manager_id,
            is_default=is_default,
            method=method or "round_robin",
            daily_cap=daily_cap,
            open_cap=open_cap,
            fallback=fallback or "pool",
            fallback_team_id=fallback_to,
        )
    for team_id, user_id, weight in Membership.objects.values_list("team_id", "user_id", "weight"):
        plans[team_id].members[user_id] = weight
    holidays: dict[int, set[dt.date]] = {}
    for team_id, date in TeamHoliday.objects.values_list("team_id", "date"):
        holidays.setdefault(team_id, set()).add(date)
    for team_id, dates in holidays.items():
        plans[team_id].holidays = frozenset(dates)
    return plans


def reachable(plans: Mapping[int, engine.TeamPlan], start: Iterable[int | None]) -> list[int]:
    """The teams a decision may end up in from `start`, following fallbacks, in id order."""
    seen: set[int] = set()
    todo = [team_id for team_id in start if team_id is not None and team_id in plans]
    while todo:
        team_id = todo.pop()
        if team_id in seen:
            continue
        seen.add(team_id)
        plan = plans[team_id]
        if plan.fallback == "team" and plan.fallback_team_id is not None and plan.fallback_team_id in plans:
            todo.append(plan.fallback_team_id)
    return sorted(seen)


@dataclass(frozen=True)
class RepCalendar:
    schedule: dict[str, list[tuple[dt.time, dt.time]]] | None
    out_of_office: tuple[tuple[dt.date, dt.date], ...]


def rep_calendars() -> Mapping[int, RepCalendar]:
    """Working hours and absences of everyone who has any (cached per configuration generation)."""
    return config_cached("routing.calendars", _calendars_load)


def _calendars_load() -> dict[int, RepCalendar]:
    schedules: dict[int, dict[str, list[tuple[dt.time, dt.time]]] | None] = {}
    for user_id, hours in RepSchedule.objects.values_list("user_id", "hours"):
        try:
            schedules[user_id] = engine.parse_schedule(hours)
        except ValueError:
            schedules[user_id] = None  # validated when saved; an unreadable row never blocks routing
    absences: dict[int, list[tuple[dt.date, dt.date]]] = {}
    for user_id, starts, ends in OutOfOffice.objects.values_list("user_id", "starts_on", "ends_on"):
        absences.setdefault(user_id, []).append((starts, ends))
    return {
        user_id: RepCalendar(schedules.get(user_id), tuple(absences.get(user_id, ())))
        for user_id in schedules.keys() | absences.keys()
    }


def routing_people() -> Mapping[int, User]:
    """Everyone routing may name, by id, with what decisions need (cached per configuration generation:
    shared, never to be changed)."""
    return config_cached(
        "routing.people",
        lambda: {
            user.pk: user
            for user in User.objects.only(
                "username", "first_name", "last_name", "is_active", "accepts_leads", "timezone"
            )
        },
    )


def reps_load(users: Mapping[int, User], *, now: dt.datetime, with_loads: bool) -> dict[int, engine.Rep]:
    """The reps with schedules, current out-of-office ranges and, when asked, today's and open lead counts."""
    calendars = rep_calendars()
    yesterday = now.date() - dt.timedelta(days=1)
    reps = {}
    for pk, user in users.items():
        calendar = calendars.get(pk)
        reps[pk] = engine.Rep(
            id=pk,
            name=user.get_full_name() or user.username,
            is_active=user.is_active,
            accepts_leads=user.accepts_leads,
            timezone=user.timezone,
            schedule=calendar.schedule if calendar else None,
            out_of_office=[r for r in calendar.out_of_office if r[1] >= yesterday] if calendar else [],
        )
    if with_loads and reps:
        _loads(reps, now)
    return reps


def _loads(reps: dict[int, engine.Rep], now: dt.datetime) -> None:
    """Leads assigned today (in each rep's timezone) and open, uncontacted leads, in one query."""
    by_start: dict[dt.datetime, list[int]] = {}
    for rep in reps.values():
        local = engine.local_time(now, rep.timezone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        by_start.setdefault(start, []).append(rep.id)
    today = Q(pk__in=[])
    for start, ids in by_start.items():
        today |= Q(owner_id__in=ids, assigned_at__gte=start)
    open_q = Q(first_response_at__isnull=True) & ~Q(stage__in=CLOSED_STAGES)
    rows = (
        Lead.objects.filter(owner_id__in=list(reps))
        .filter(today | open_q)
        .values("owner_id")
        .annotate(today=Count("id", filter=today), open=Count("id", filter=open_q))
    )
    for row in rows:
        reps[row["owner_id"]].assigned_today = row["today"]
        reps[row["owner_id"]].open_leads = row["open"]


def turns_load(team_ids: list[int], *, lock: bool) -> dict[int, RoundRobinState]:
    """The teams' round-robin states (created on first use) with their teams, locked in team order when
    `lock` is set: one prepared statement, run by every capture that assigns."""
    if not team_ids:
        return {}
    rows = _turn_rows(team_ids, lock=lock)
    if len(rows) < len(set(team_ids)):
        found = {row[1] for row in rows}
        RoundRobinState.objects.bulk_create(
            [RoundRobinState(team_id=team_id) for team_id in team_ids if team_id not in found],
            ignore_conflicts=True,
        )
        rows = _turn_rows(team_ids, lock=lock)
    teams = config_cached("routing.team_rows", lambda: {team.pk: team for team in Team.objects.all()})
    states = {}
    for pk, team_id, last_user_id, credits in rows:
        state = RoundRobinState.from_db(
            connection.alias,
            ["id", "team_id", "last_user_id", "credits"],
            [pk, team_id, last_user_id, json_read(credits)],
        )
        state.team = copy.copy(teams[team_id])  # the cached team stays as it was, whatever the caller does
        states[team_id] = state
    return states


def _turn_rows(team_ids: list[int], *, lock: bool) -> list[tuple[int, int, int | None, Any]]:
    test, params = in_values(sorted(set(team_ids)))
    locking = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    with hot_cursor() as cursor:
        cursor.execute(
            "SELECT id, team_id, last_user_id, credits FROM routing_roundrobinstate "
            f"WHERE team_id {test} ORDER BY team_id{locking}",
            params,
        )
        return cursor.fetchall()


def turns_save(states: list[RoundRobinState], *, now: dt.datetime) -> None:
    """Writes the states' turns (last rep, credits) in one prepared statement per state."""
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    with hot_cursor() as cursor:
        for state in states:
            state.updated_at = now
            cursor.execute(
                f"UPDATE routing_roundrobinstate SET last_user_id = %s, credits = {cast}, updated_at = %s "
                "WHERE id = %s",
                [state.last_user_id, json.dumps(state.credits or {}), now, state.pk],
            )


@dataclass
class Plan:
    """What a batch of routing decisions works with, loaded once."""

    ctx: engine.Context
    states: dict[int, RoundRobinState]
    users: dict[int, User]
    accounts: list[tuple[int, str] | None]  # per lead: its account owner and what they own
    records: list[dict[str, Any]]
    matches: list[engine.Rule | None]  # the first matching rule of each record


def routing_plan(
    *, leads: list[Lead], records: list[dict[str, Any]] | None = None, now: dt.datetime, lock: bool
) -> Plan:
    """Everything the decisions for `leads` need: rules, teams reachable from their matches, reps, loads.

    `records` gives the rule inputs directly (the simulator's typed-in lead); otherwise they are read from
    the leads. With `lock`, the round-robin rows of the reachable teams are locked in team order before
    loads are counted, so concurrent batches take turns one after the other and never deadlock.
    """
    settings = routing_settings_get()
    rules, fields = rules_compiled()
    if records is None:
        names = source_names(lead.source_id for lead in leads) if rules else {}
        records = [lead_record(lead, source_name=names.get(lead.source_id or 0, "")) for lead in leads]
    plans = teams_plans()
    default_team_id = next((plan.id for plan in plans.values() if plan.is_default), None)
    accounts = account_owners(leads=leads, inferred=settings.account_matching)
    starts: set[int | None] = set()
    user_ids: set[int] = {found[0] for found in accounts if found is not None}
    matches = [engine.match_rule(rules, record) for record in records]
    for rule in matches:
        if rule is None:
            starts.add(default_team_id)
        else:
            starts.add(rule.team_id)
            if rule.user_id is not None:
                user_ids.add(rule.user_id)
    team_ids = reachable(plans, starts)
    states = turns_load(team_ids, lock=lock)
    for team_id in team_ids:
        user_ids.update(plans[team_id].members)
        if plans[team_id].manager_id is not None:
            user_ids.add(plans[team_id].manager_id)  # type: ignore[arg-type]
    with_loads = any(
        plans[t].method == "load" or plans[t].daily_cap is not None or plans[t].open_cap is not None
        for t in team_ids
    )
    people = routing_people()
    users = {pk: people[pk] for pk in user_ids if pk in people}
    reps = reps_load(users, now=now, with_loads=with_loads)
    turns = {
        team_id: engine.Turn(
            last_user_id=state.last_user_id,
            credits={int(k): int(v) for k, v in (state.credits or {}).items()},
        )
        for team_id, state in states.items()
    }
    ctx = engine.Context(
        rules=rules, teams=dict(plans), reps=reps, turns=turns, fields=fields, default_team_id=default_team_id
    )
    return Plan(ctx=ctx, states=states, users=users, accounts=accounts, records=records, matches=matches)


def routing_simulate(
    *,
    viewer: User | None,
    lead_id: int | None = None,
    values: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> engine.Decision | None:
    """Who would get a lead (an existing one `viewer` may see, or typed-in values) and why; assigns nothing.

    None when the lead does not exist or is out of the viewer's reach; UnknownFieldsError for typed-in
    fields that are not lead fields.
    """
    now = now or timezone.now()
    if lead_id is not None:
        found = lead_get(lead_id=lead_id, viewer=viewer)
        if found is None:
            return None
        lead = found
        record = lead_record(lead, source_name=lead.source.name if lead.source else "")
    else:
        fields = routing_fields()
        unknown = sorted(set(values or {}) - set(fields))
        if unknown:
            raise UnknownFieldsError(
                {f"fields.{name}": "not a lead field rules can test" for name in unknown}
            )
        record = dict(values or {})
        record.setdefault("stage", Stage.LEAD)
        record.setdefault("status", Status.NEW)
        lead = Lead(company_domain=str(record.get("company_domain") or "").strip().lower())
    plan = routing_plan(leads=[lead], records=[record], now=now, lock=False)
    return engine.decide_matched(record, plan.matches[0], plan.ctx, now, account=plan.accounts[0])


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related("lead")


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
