"""Routing writes: the route step of the intake flow, manual assignment, and routing settings.

Without rules and settings the route step does what it always did: leads without an owner go round
robin to the available members of the default team; with no default team or nobody available they
wait in the unassigned pool.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.core.conditions import ConditionError, validate
from leadflow.leads.models import Activity, ActivityKind, Lead, Task
from leadflow.leads.services import activity_create
from leadflow.leads.steps import StepOutcome
from leadflow.routing import engine
from leadflow.routing.models import (
    Fallback,
    Method,
    OutOfOffice,
    RepSchedule,
    RoundRobinState,
    RoutingRule,
    RoutingSettings,
    Target,
    TeamHoliday,
    TeamRouting,
)
from leadflow.routing.selectors import Plan, routing_fields, routing_plan


class RoutingInputError(ValueError):
    """Settings that cannot be saved, with one message per field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


def leads_route(*, leads: list[Lead], now: dt.datetime | None = None) -> dict[int, StepOutcome]:
    """Assigns the leads that have no owner, deciding the whole batch in memory.

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
    for lead, record, rule in zip(waiting, plan.records, plan.matches, strict=True):
        domain = lead.company_domain
        decision = engine.decide_matched(
            record, rule, plan.ctx, now, account_owner_id=plan.account.get(domain), account_domain=domain
        )
        outcomes[lead.pk] = _apply(lead, decision, plan, now)
    changed = []
    for team_id, state in plan.states.items():
        turn = plan.ctx.turns[team_id]
        members = plan.ctx.teams[team_id].members
        credits = {str(k): v for k, v in turn.credits.items() if k in members}  # former members drop out
        if turn.last_user_id != state.last_user_id or credits != (state.credits or {}):
            state.last_user_id, state.credits, state.updated_at = turn.last_user_id, credits, now
            changed.append(state)
    if changed:
        RoundRobinState.objects.bulk_update(changed, ["last_user", "credits", "updated_at"])
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
    activity = Activity(
        lead=lead,
        kind=ActivityKind.ASSIGNMENT,
        summary=decision.summary[:300],
        payload=payload,
        occurred_at=now,
    )
    return StepOutcome(summary=decision.summary, detail=detail, activities=[activity])


@transaction.atomic
def lead_assign(*, lead: Lead, owner: User | None, actor: User | None, reason: str = "") -> Lead:
    """Gives a lead to a person, or back to its team's unassigned pool, saying who did it and why.

    The response clock restarts, and the previous owner's open tasks on the lead move with it.
    """
    if owner is not None and not owner.is_active:
        raise ValueError(f"{owner} is not active and cannot own leads.")
    previous = lead.owner
    if previous == owner:
        return lead
    now = timezone.now()
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
    return lead


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
) -> TeamRouting:
    errors: dict[str, str] = {}
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
