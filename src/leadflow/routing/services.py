"""Routing writes: the route step of the intake flow, manual assignment, the response SLA (clocks,
reminders, breach handling) and routing settings.

Without rules and settings the route step does what it always did: leads without an owner go round
robin to the available members of the default team; with no default team or nobody available they
wait in the unassigned pool.
"""

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.core.conditions import ConditionError, validate
from leadflow.core.config import config_cached
from leadflow.core.db import bulk_insert, new_instance
from leadflow.core.queue import enqueue_after_commit, enqueue_all
from leadflow.leads.models import Activity, ActivityKind, Lead, Task
from leadflow.leads.services import activity_create
from leadflow.leads.steps import StepOutcome
from leadflow.routing import engine, sla
from leadflow.routing.models import (
    BreachAction,
    ClockOutcome,
    Fallback,
    Method,
    NotificationKind,
    OutOfOffice,
    RepSchedule,
    ResponseClock,
    RoutingRule,
    RoutingSettings,
    Target,
    TeamHoliday,
    TeamRouting,
)
from leadflow.routing.notifications import Message, notifications_send
from leadflow.routing.selectors import (
    Plan,
    rep_calendars,
    reps_load,
    routing_fields,
    routing_people,
    routing_plan,
    teams_plans,
    turns_load,
    turns_save,
)


class RoutingInputError(ValueError):
    """Settings that cannot be saved, with one message per field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


def leads_route(
    *, leads: list[Lead], now: dt.datetime | None = None, alert_owners: bool = True
) -> dict[int, StepOutcome]:
    """Assigns the leads that have no owner, deciding the whole batch in memory; with `alert_owners` the
    new owners are notified and a response clock starts for each lead.

    Rules, settings, members and loads are read once; the round-robin rows of every team the batch may
    reach are locked in team order, so concurrent batches take turns without deadlocks or double turns.
    """
    now = now or timezone.now()
    outcomes: dict[int, StepOutcome] = {}
    waiting = []
    for lead in leads:
        if lead.owner_id is not None:
            outcomes[lead.pk] = StepOutcome(
                summary=f"Kept its owner {lead.owner}.",
                detail={"owner_id": lead.owner_id, "rule": "existing owner"},
            )
        else:
            waiting.append(lead)
    if not waiting:
        return outcomes
    plan = routing_plan(leads=waiting, now=now, lock=True)
    for lead, record, rule, account in zip(waiting, plan.records, plan.matches, plan.accounts, strict=True):
        decision = engine.decide_matched(record, rule, plan.ctx, now, account=account)
        outcomes[lead.pk] = _apply(lead, decision, plan, now)
    assigned = [lead for lead in waiting if lead.owner_id is not None]
    if not alert_owners:
        for lead in assigned:
            outcome = outcomes[lead.pk]
            outcome.summary += " Owner not alerted and no response clock: imported without alerts."
            outcome.detail["alerted"] = False
    clocks = sla_clocks_start(
        leads=assigned if alert_owners else [],
        now=now,
        reasons={lead.pk: outcomes[lead.pk].summary for lead in assigned},
    )
    for clock in clocks:
        if clock.due_at is not None:
            outcome = outcomes[clock.lead_id]
            outcome.detail["sla_due_at"] = clock.due_at.isoformat()
            for activity in outcome.activities:
                activity.payload["sla_due_at"] = clock.due_at.isoformat()
    changed = []
    for team_id, state in plan.states.items():
        turn = plan.ctx.turns[team_id]
        members = plan.ctx.teams[team_id].members
        credits = {str(k): v for k, v in turn.credits.items() if k in members}  # former members drop out
        if turn.last_user_id != state.last_user_id or credits != (state.credits or {}):
            state.last_user_id, state.credits = turn.last_user_id, credits
            changed.append(state)
    turns_save(changed, now=now)
    return outcomes


def _apply(lead: Lead, decision: engine.Decision, plan: Plan, now: dt.datetime) -> StepOutcome:
    """Puts the decision on the lead (in memory) and returns its trace entry and timeline row."""
    detail = decision.as_dict()
    if decision.team_id is not None:
        lead.team = plan.states[decision.team_id].team
    if decision.owner_id is not None:
        lead.owner, lead.assigned_at = plan.users[decision.owner_id], now
    elif not decision.fallbacks:
        return StepOutcome(summary=decision.summary, detail=detail)
    payload = {
        "owner_id": decision.owner_id,
        "team_id": decision.team_id,
        "method": decision.method or "pool",
        "rule_id": decision.rule_id,
        "skipped": detail["skipped"],
        "fallbacks": decision.fallbacks,
    }
    activity = new_instance(
        Activity,
        lead_id=lead.pk,
        kind=ActivityKind.ASSIGNMENT,
        summary=decision.summary[:300],
        payload=payload,
        occurred_at=now,
    )
    return StepOutcome(summary=decision.summary, detail=detail, activities=[activity])


@transaction.atomic
def lead_assign(
    *, lead: Lead, owner: User | None, actor: User | None, reason: str = "", now: dt.datetime | None = None
) -> Lead:
    """Gives a lead to a person, or back to its team's unassigned pool, saying who did it and why.

    The response clock restarts, and the previous owner's open tasks on the lead move with it.
    """
    if owner is not None and not owner.is_active:
        raise ValueError(f"{owner} is not active and cannot own leads.")
    previous = lead.owner
    if previous == owner:
        return lead
    now = now or timezone.now()
    locked = Lead.objects.select_for_update().filter(pk=lead.pk).values_list("first_response_at").first()
    if locked is not None:
        lead.first_response_at = locked[0]
    lead.owner = owner
    lead.assigned_at = now if owner is not None else None
    if owner is not None and (
        lead.team_id is None or not owner.memberships.filter(team_id=lead.team_id).exists()
    ):
        lead.team = owner.teams.first() or lead.team
    lead.updated_at = now
    lead.save(update_fields=["owner", "assigned_at", "team", "updated_at"])
    Task.objects.filter(lead=lead, assignee=previous, done_at__isnull=True).update(assignee=owner)
    who = f" by {actor}" if actor is not None else ""
    target = str(owner) if owner is not None else "the unassigned pool"
    summary = f"Reassigned from {previous or 'nobody'} to {target}{who}" + (f": {reason}" if reason else ".")
    activity_create(
        lead=lead,
        kind=ActivityKind.ASSIGNMENT,
        summary=summary,
        payload={
            "from_owner_id": previous.pk if previous else None,
            "owner_id": owner.pk if owner else None,
            "team_id": lead.team_id,
            "method": "manual",
            "reason": reason,
        },
        actor=actor,
        occurred_at=now,
    )
    ended = "Reassigned" + (f" by {actor}" if actor is not None else "") + (f": {reason}" if reason else "")
    ResponseClock.objects.filter(lead=lead, outcome=ClockOutcome.OPEN).update(
        outcome=ClockOutcome.ENDED, ended_at=now, reason=ended[:300]
    )
    if owner is not None:
        sla_clocks_start(leads=[lead], now=now, reasons={lead.pk: summary}, notify=owner != actor)
    return lead


# Response SLA


@dataclass(frozen=True)
class _TeamSla:
    minutes: int | None
    reminder: int | None
    action: str
    max_reassignments: int


def _team_slas(team_ids: set[int]) -> dict[int, _TeamSla]:
    every = config_cached("routing.slas", _team_slas_load)
    return {team_id: every[team_id] for team_id in team_ids if team_id in every}


def _team_slas_load() -> dict[int, _TeamSla]:
    rows = TeamRouting.objects.values_list(
        "team_id", "sla_minutes", "sla_reminder_minutes", "breach_action", "max_reassignments"
    )
    return {row[0]: _TeamSla(*row[1:]) for row in rows}


def _deadlines(
    leads: list[Lead], slas: Mapping[int, _TeamSla], now: dt.datetime
) -> dict[int, tuple[dt.datetime, dt.datetime | None]]:
    """Lead id → (deadline, reminder time) in the owner's working time, for leads whose team has an SLA."""
    timed = [
        lead
        for lead in leads
        if lead.team_id is not None and lead.team_id in slas and slas[lead.team_id].minutes
    ]
    if not timed:
        return {}
    plans, calendars, people = teams_plans(), rep_calendars(), routing_people()
    yesterday = now.date() - dt.timedelta(days=1)
    deadlines = {}
    for lead in timed:
        team_sla = slas[lead.team_id]  # type: ignore[index]
        assert team_sla.minutes is not None and lead.owner_id is not None
        calendar = calendars.get(lead.owner_id)
        owner = people.get(lead.owner_id)
        team_plan = plans.get(lead.team_id)  # type: ignore[arg-type]
        timing = {
            "schedule": calendar.schedule if calendar else None,
            "timezone": owner.timezone if owner else "UTC",
            "holidays": set(team_plan.holidays) if team_plan else set(),
            "away": [r for r in calendar.out_of_office if r[1] >= yesterday] if calendar else [],
        }
        due = sla.working_deadline(now, team_sla.minutes, **timing)  # type: ignore[arg-type]
        remind = None
        if team_sla.reminder and team_sla.reminder < team_sla.minutes:
            remind = sla.working_deadline(now, team_sla.minutes - team_sla.reminder, **timing)  # type: ignore[arg-type]
        deadlines[lead.pk] = (due, remind)
    return deadlines


def _local(moment: dt.datetime, user: User) -> str:
    """A moment in the user's own time zone, e.g. "Mon 23 Nov 11:05 CET"."""
    local = engine.local_time(moment, user.timezone)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def sla_clocks_start(
    *, leads: list[Lead], now: dt.datetime, reasons: Mapping[int, str], notify: bool = True
) -> list[ResponseClock]:
    """Starts a response clock for each assigned, unanswered lead and tells the owners.

    The deadline is the lead team's SLA in the owner's working minutes; the reminder and the breach check
    are enqueued to run at their times once the transaction commits. A constant number of queries.
    """
    leads = [lead for lead in leads if lead.owner_id is not None and lead.first_response_at is None]
    if not leads:
        return []
    slas = _team_slas({lead.team_id for lead in leads if lead.team_id is not None})
    deadlines = _deadlines(leads, slas, now)
    clocks = []
    for lead in leads:
        due, remind = deadlines.get(lead.pk, (None, None))
        team_sla = slas.get(lead.team_id) if lead.team_id is not None else None
        clocks.append(
            ResponseClock(
                lead=lead,
                owner_id=lead.owner_id,
                team_id=lead.team_id,
                started_at=now,
                sla_minutes=team_sla.minutes if due is not None and team_sla else None,
                due_at=due,
                remind_at=remind,
            )
        )
    clocks = bulk_insert(clocks)
    if notify:
        messages = []
        for lead, clock in zip(leads, clocks, strict=True):
            owner = lead.owner
            assert owner is not None
            respond = f"\nPlease respond by {_local(clock.due_at, owner)}." if clock.due_at else ""
            messages.append(
                Message(
                    recipient=owner,
                    kind=NotificationKind.ASSIGNMENT,
                    title=f"New lead: {lead.display_name}",
                    body=f"{reasons.get(lead.pk, '')}{respond}".strip(),
                    lead=lead,
                    team_id=lead.team_id,
                    data={"sla_due_at": clock.due_at.isoformat() if clock.due_at else None},
                )
            )
        notifications_send(messages=messages, now=now)
    timers = [(c.pk, c.remind_at, c.due_at) for c in clocks if c.due_at is not None]
    if timers:
        enqueue_after_commit(lambda: _schedule(timers))
    return clocks


def _schedule(timers: list[tuple[int, dt.datetime | None, dt.datetime]]) -> None:
    """Enqueues the reminders and breach checks to run at their times (backends that cannot defer,
    such as the immediate one, get no SLA timers)."""
    from leadflow.routing.tasks import sla_check, sla_remind

    if not sla_check.get_backend().supports_defer:
        return
    calls: list[tuple[Any, list[int]]] = []
    for clock_id, remind_at, due_at in timers:
        if remind_at is not None:
            calls.append((sla_remind.using(run_after=remind_at), [clock_id]))
        calls.append((sla_check.using(run_after=due_at), [clock_id]))
    enqueue_all(calls)


def _open_clock(clock_id: int, now: dt.datetime) -> tuple[ResponseClock, Lead] | None:
    """The clock and its lead, locked (lead first, as lead_assign does), while the clock is open."""
    lead_id = ResponseClock.objects.filter(pk=clock_id).values_list("lead_id", flat=True).first()
    if lead_id is None:
        return None
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").filter(pk=lead_id).first()
    clock = (
        ResponseClock.objects.select_for_update(of=("self",))
        .select_related("owner", "team")
        .filter(pk=clock_id, outcome=ClockOutcome.OPEN)
        .first()
    )
    if lead is None or clock is None:
        return None
    return clock, lead


def _answered(clock: ResponseClock, lead: Lead) -> bool:
    """Closes the clock when its lead was answered or left its owner; True when it did."""
    if lead.first_response_at is not None:
        in_time = clock.due_at is None or lead.first_response_at <= clock.due_at
        clock.outcome = ClockOutcome.MET if in_time else ClockOutcome.BREACHED
        clock.reason = "Answered in time." if in_time else "Answered after the deadline."
    elif lead.owner_id != clock.owner_id:
        clock.outcome, clock.reason = ClockOutcome.ENDED, "The lead changed hands."
    else:
        return False
    clock.save(update_fields=["outcome", "reason"])
    return True


@transaction.atomic
def sla_clock_remind(*, clock_id: int, now: dt.datetime | None = None) -> bool:
    """Reminds the owner of an unanswered lead once, at or after the reminder time; True when it did."""
    now = now or timezone.now()
    found = _open_clock(clock_id, now)
    if found is None:
        return False
    clock, lead = found
    if (
        clock.reminded_at is not None
        or clock.remind_at is None
        or now < clock.remind_at
        or clock.due_at is None
    ):
        return False
    if _answered(clock, lead):
        return False
    owner = clock.owner
    assert owner is not None
    clock.reminded_at = now
    clock.save(update_fields=["reminded_at"])
    left = max(1, round((clock.due_at - now).total_seconds() / 60))
    summary = f"Reminder sent to {owner}: respond by {_local(clock.due_at, owner)} (about {left} min left)."
    activity_create(
        lead=lead,
        kind=ActivityKind.SLA,
        summary=summary,
        payload={
            "event": "reminder",
            "clock_id": clock.pk,
            "owner_id": owner.pk,
            "due_at": clock.due_at.isoformat(),
        },
        occurred_at=now,
    )
    notifications_send(
        messages=[
            Message(
                recipient=owner,
                kind=NotificationKind.REMINDER,
                title=f"Respond to {lead.display_name} by {_local(clock.due_at, owner)}",
                body=f"The first-response SLA of {clock.sla_minutes} min runs out in about {left} min.",
                lead=lead,
                team_id=clock.team_id,
            )
        ],
        now=now,
    )
    return True


@transaction.atomic
def sla_clock_check(*, clock_id: int, now: dt.datetime | None = None) -> str | None:
    """At or after the deadline: closes an answered clock, or records the breach and acts on it as the
    team says (reassign to the next available rep, escalate to the manager, or only record it).
    Returns what happened ("met", "reassigned", "escalated", "recorded"…), or None when nothing was due."""
    now = now or timezone.now()
    found = _open_clock(clock_id, now)
    if found is None:
        return None
    clock, lead = found
    if clock.due_at is None or now < clock.due_at:
        return None
    if _answered(clock, lead):
        return clock.outcome
    owner = clock.owner
    assert owner is not None
    due = _local(clock.due_at, owner)
    why = f"{owner} did not respond within {clock.sla_minutes} working minutes (due {due})"
    clock.outcome, clock.ended_at, clock.reason = ClockOutcome.BREACHED, now, why[:300]
    clock.save(update_fields=["outcome", "ended_at", "reason"])
    activity_create(
        lead=lead,
        kind=ActivityKind.SLA,
        summary=f"SLA breached: {why}.",
        payload={
            "event": "breach",
            "clock_id": clock.pk,
            "owner_id": owner.pk,
            "due_at": clock.due_at.isoformat(),
        },
        occurred_at=now,
    )
    team_sla = _team_slas({clock.team_id}).get(clock.team_id) if clock.team_id is not None else None
    action = team_sla.action if team_sla else BreachAction.RECORD
    notes: list[str] = []
    if action == BreachAction.REASSIGN and team_sla is not None and clock.team is not None:
        breaches = ResponseClock.objects.filter(lead=lead, outcome=ClockOutcome.BREACHED)
        if breaches.count() > team_sla.max_reassignments:
            limit = team_sla.max_reassignments
            notes.append(f"it was already reassigned {limit} time{'' if limit == 1 else 's'}")
        else:
            tried = set(breaches.values_list("owner_id", flat=True))
            successor, skipped = _next_rep(clock.team, exclude=tried, now=now)
            if successor is not None:
                lead_assign(lead=lead, owner=successor, actor=None, reason=f"SLA breached: {why}", now=now)
                _breach_notice(owner, lead, clock, f"It was reassigned to {successor}.", now)
                return "reassigned"
            notes.append(
                "nobody else in "
                + clock.team.name
                + " is available"
                + (" (" + ", ".join(f"{s.name}: {s.reason}" for s in skipped) + ")" if skipped else "")
            )
        action = BreachAction.ESCALATE
    if action == BreachAction.ESCALATE:
        manager = clock.team.manager if clock.team is not None else None
        if manager is not None and manager.is_active:
            because = f" because {'; '.join(notes)}" if notes else ""
            activity_create(
                lead=lead,
                kind=ActivityKind.SLA,
                summary=f"Escalated to the manager {manager}{because}.",
                payload={
                    "event": "escalation",
                    "clock_id": clock.pk,
                    "manager_id": manager.pk,
                    "notes": notes,
                },
                occurred_at=now,
            )
            notifications_send(
                messages=[
                    Message(
                        recipient=manager,
                        kind=NotificationKind.ESCALATION,
                        title=f"SLA breached on {lead.display_name}",
                        body=f"{why}{because}. The lead is still with {owner}.",
                        lead=lead,
                        team_id=clock.team_id,
                    )
                ],
                now=now,
            )
            _breach_notice(owner, lead, clock, f"Your manager {manager} was told.", now)
            return "escalated"
        notes.append("the team has no manager to escalate to")
    if notes:
        activity_create(
            lead=lead,
            kind=ActivityKind.SLA,
            summary=f"Breach recorded; no further action: {'; '.join(notes)}.",
            payload={"event": "recorded", "clock_id": clock.pk, "notes": notes},
            occurred_at=now,
        )
    _breach_notice(owner, lead, clock, "", now)
    return "recorded"


def _breach_notice(owner: User, lead: Lead, clock: ResponseClock, outcome: str, now: dt.datetime) -> None:
    notifications_send(
        messages=[
            Message(
                recipient=owner,
                kind=NotificationKind.BREACH,
                title=f"Missed the response SLA on {lead.display_name}",
                body=f"The {clock.sla_minutes}-minute first-response SLA ran out. {outcome}".strip(),
                lead=lead,
                team_id=clock.team_id,
            )
        ],
        now=now,
    )


def _next_rep(team: Team, *, exclude: set[int], now: dt.datetime) -> tuple[User | None, list[engine.Skip]]:
    """The team's next available rep by its distribution method, leaving out `exclude`; takes the turn."""
    cached = teams_plans()[team.pk]  # shared: the copy below leaves out `exclude`
    plan = dataclasses.replace(cached, members={k: v for k, v in cached.members.items() if k not in exclude})
    if not plan.members:
        return None, []
    users = {user.pk: user for user in User.objects.filter(pk__in=plan.members)}
    reps = reps_load(users, now=now, with_loads=True)
    state = turns_load([team.pk], lock=True)[team.pk]
    turn = engine.Turn(
        last_user_id=state.last_user_id, credits={int(k): int(v) for k, v in (state.credits or {}).items()}
    )
    chosen, skipped = engine.distribute(plan, reps, turn, now)
    if chosen is None:
        return None, skipped
    state.last_user_id, state.credits = turn.last_user_id, {str(k): v for k, v in turn.credits.items()}
    turns_save([state], now=now)
    return users[chosen], skipped


# Rules


def _rule_clean(
    *, name: str, condition: Any, target: str, target_user_id: int | None, target_team_id: int | None
) -> tuple[Any, User | None, Team | None]:
    """The validated condition and targets, or RoutingInputError naming every problem."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "A rule needs a name."
    try:
        validate(condition, routing_fields())  # kept as written, so it reads back in the author's case
    except ConditionError as err:
        errors["condition"] = "; ".join(err.problems)
    user = team = None
    if target not in Target.values:
        errors["target"] = f"Choose one of {', '.join(Target.values)}."
    if target_user_id is not None:
        user = User.objects.filter(pk=target_user_id).first()
        if user is None:
            errors["target_user"] = f"No user with id {target_user_id}."
        elif not user.is_active:
            errors["target_user"] = f"{user} is not active and cannot receive leads."
    elif target == Target.USER:
        errors["target_user"] = "Choose the person who gets the leads."
    if target_team_id is not None:
        team = Team.objects.filter(pk=target_team_id).first()
        if team is None:
            errors["target_team"] = f"No team with id {target_team_id}."
    elif target == Target.TEAM:
        errors["target_team"] = "Choose the team that gets the leads."
    if errors:
        raise RoutingInputError(errors)
    return condition, user, team


def routing_rule_create(
    *,
    name: str,
    condition: Any,
    target: str,
    target_user_id: int | None = None,
    target_team_id: int | None = None,
    is_active: bool = True,
) -> RoutingRule:
    """A new rule at the end of the list; RoutingInputError if a field, operator or target is wrong."""
    condition, user, team = _rule_clean(
        name=name,
        condition=condition,
        target=target,
        target_user_id=target_user_id,
        target_team_id=target_team_id,
    )
    last = RoutingRule.objects.aggregate(last=Max("position"))["last"]
    return RoutingRule.objects.create(
        position=0 if last is None else last + 1,
        name=name.strip(),
        condition=condition,
        target=target,
        target_user=user,
        target_team=team,
        is_active=is_active,
    )


def routing_rule_update(
    *,
    rule: RoutingRule,
    name: str,
    condition: Any,
    target: str,
    target_user_id: int | None = None,
    target_team_id: int | None = None,
    is_active: bool = True,
) -> RoutingRule:
    condition, user, team = _rule_clean(
        name=name,
        condition=condition,
        target=target,
        target_user_id=target_user_id,
        target_team_id=target_team_id,
    )
    rule.name, rule.condition, rule.target = name.strip(), condition, target
    rule.target_user, rule.target_team, rule.is_active = user, team, is_active
    rule.save()
    return rule


def routing_rule_delete(*, rule: RoutingRule) -> None:
    rule.delete()


@transaction.atomic
def routing_rule_move(*, rule: RoutingRule, offset: int) -> None:
    """Moves a rule up (negative offset) or down the list; positions are renumbered 0, 1, 2…"""
    rules = list(RoutingRule.objects.select_for_update().order_by("position", "id"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    moved = rules.pop(index)
    rules.insert(max(0, min(len(rules), index + offset)), moved)
    now = timezone.now()
    for position, item in enumerate(rules):
        item.position, item.updated_at = position, now
    RoutingRule.objects.bulk_update(rules, ["position", "updated_at"])  # the new order recompiles the rules


def routing_settings_update(*, account_matching: bool) -> RoutingSettings:
    settings = RoutingSettings.objects.first() or RoutingSettings()
    settings.account_matching = account_matching
    settings.save()
    return settings


# Team distribution and rep availability


def team_routing_update(
    *,
    team: Team,
    method: str,
    daily_cap: int | None = None,
    open_cap: int | None = None,
    fallback: str = Fallback.POOL,
    fallback_team_id: int | None = None,
    sla_minutes: int | None = None,
    sla_reminder_minutes: int | None = None,
    breach_action: str = BreachAction.REASSIGN,
    max_reassignments: int = 2,
) -> TeamRouting:
    """Saves a team's distribution and response SLA; RoutingInputError names every wrong field."""
    errors: dict[str, str] = {}
    if sla_minutes is not None and sla_minutes < 1:
        errors["sla_minutes"] = "An SLA is at least one minute; leave it empty for none."
    if sla_reminder_minutes is not None and (
        sla_minutes is None or not 0 < sla_reminder_minutes < sla_minutes
    ):
        errors["sla_reminder_minutes"] = "The reminder comes before the deadline: between 1 and the SLA − 1."
    if breach_action not in BreachAction.values:
        errors["breach_action"] = f"Choose one of {', '.join(BreachAction.values)}."
    elif breach_action == BreachAction.ESCALATE and sla_minutes and team.manager_id is None:
        errors["breach_action"] = f"{team} has no manager to escalate to; set one first."
    if max_reassignments < 0:
        errors["max_reassignments"] = "Cannot be negative."
    if method not in Method.values:
        errors["method"] = f"Choose one of {', '.join(Method.values)}."
    for key, cap in (("daily_cap", daily_cap), ("open_cap", open_cap)):
        if cap is not None and cap < 0:
            errors[key] = "A cap cannot be negative."
    if fallback not in Fallback.values:
        errors["fallback"] = f"Choose one of {', '.join(Fallback.values)}."
    fallback_team = None
    if fallback == Fallback.TEAM:
        fallback_team = Team.objects.filter(pk=fallback_team_id).first() if fallback_team_id else None
        if fallback_team is None:
            errors["fallback_team"] = "Choose an existing team to fall back to."
        elif fallback_team.pk == team.pk:
            errors["fallback_team"] = "A team cannot fall back to itself."
    elif fallback == Fallback.MANAGER and team.manager_id is None:
        errors["fallback"] = f"{team} has no manager; set one first or choose another fallback."
    if errors:
        raise RoutingInputError(errors)
    settings, _ = TeamRouting.objects.update_or_create(
        team=team,
        defaults={
            "method": method,
            "daily_cap": daily_cap,
            "open_cap": open_cap,
            "fallback": fallback,
            "fallback_team": fallback_team,
            "sla_minutes": sla_minutes,
            "sla_reminder_minutes": sla_reminder_minutes,
            "breach_action": breach_action,
            "max_reassignments": max_reassignments,
        },
    )
    return settings


def team_holiday_add(*, team: Team, date: dt.date, name: str = "") -> TeamHoliday:
    holiday, _ = TeamHoliday.objects.update_or_create(team=team, date=date, defaults={"name": name})
    return holiday


def team_holiday_remove(*, team: Team, holiday_id: int) -> None:
    TeamHoliday.objects.filter(team=team, pk=holiday_id).delete()


def rep_schedule_set(*, user: User, hours: Mapping[str, Any] | None) -> RepSchedule | None:
    """Sets a rep's weekly hours ({"mon": [["09:00", "17:00"]], …}); empty removes them (always free)."""
    if not hours:
        RepSchedule.objects.filter(user=user).delete()
        return None
    try:
        engine.parse_schedule(hours)
    except (ValueError, TypeError) as err:
        raise RoutingInputError({"hours": str(err)}) from None
    schedule, _ = RepSchedule.objects.update_or_create(user=user, defaults={"hours": dict(hours)})
    return schedule


def out_of_office_add(*, user: User, starts_on: dt.date, ends_on: dt.date, note: str = "") -> OutOfOffice:
    if ends_on < starts_on:
        raise RoutingInputError({"ends_on": "The absence ends before it starts."})
    return OutOfOffice.objects.create(user=user, starts_on=starts_on, ends_on=ends_on, note=note)


def out_of_office_remove(*, user: User, absence_id: int) -> None:
    OutOfOffice.objects.filter(user=user, pk=absence_id).delete()
