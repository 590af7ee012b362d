"""Routing decisions as pure logic: first matching rule, distribution inside a team, availability.

Everything the decision needs is handed in (rules, teams, reps with their loads, round-robin turns,
and an explicit `now`), so one decision costs no query and can be simulated. The engine mutates the
turns and the reps' loads it is given, so a batch of leads decided in a row stays fair and respects caps.
No Django imports.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.core.conditions import Predicate, describe, explain

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
METHOD_LABELS = {
    "round_robin": "round robin",
    "weighted": "weighted round robin",
    "load": "fewest open leads",
}
MAX_FALLBACK_HOPS = 10


@dataclass
class Rep:
    """A person as routing sees them, with their current load."""

    id: int
    name: str
    is_active: bool = True
    accepts_leads: bool = True
    timezone: str = "UTC"
    schedule: dict[str, list[tuple[dt.time, dt.time]]] | None = None  # None: always working
    out_of_office: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    assigned_today: int = 0
    open_leads: int = 0


@dataclass
class TeamPlan:
    """A team's distribution settings and members (rep id → weight)."""

    id: int
    name: str
    method: str = "round_robin"
    members: dict[int, int] = field(default_factory=dict)
    daily_cap: int | None = None
    open_cap: int | None = None
    holidays: frozenset[dt.date] = frozenset()
    fallback: str = "pool"  # pool | manager | team
    fallback_team_id: int | None = None
    manager_id: int | None = None
    is_default: bool = False


@dataclass
class Turn:
    """A team's round-robin position: the last rep served and the weighted credits."""

    last_user_id: int | None = None
    credits: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    condition: Any
    predicate: Predicate
    target: str  # user | team | pool
    user_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class Skip:
    rep_id: int
    name: str
    reason: str


@dataclass
class Decision:
    """Who gets a lead and why, in parts a person can read."""

    owner_id: int | None = None
    team_id: int | None = None
    rule_id: int | None = None
    rule: str = ""  # "Rule 'DACH' (country is one of DE, AT)", "Account match …", or "" for the default
    rule_lines: list[str] = field(default_factory=list)  # explain() of the matching rule
    method: str = ""  # the distribution that picked the owner
    skipped: list[Skip] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "owner_id": self.owner_id,
            "team_id": self.team_id,
            "rule_id": self.rule_id,
            "rule": self.rule,
            "rule_lines": self.rule_lines,
            "method": self.method,
            "skipped": [{"rep_id": s.rep_id, "name": s.name, "reason": s.reason} for s in self.skipped],
            "fallbacks": self.fallbacks,
        }


@dataclass
class Context:
    """What one batch of decisions works with; loads and turns change as leads are decided."""

    rules: list[Rule]
    teams: dict[int, TeamPlan]
    reps: dict[int, Rep]
    turns: dict[int, Turn]
    fields: Mapping[str, str]
    default_team_id: int | None = None


def parse_schedule(
    raw: Mapping[str, Iterable[Iterable[str]]] | None,
) -> dict[str, list[tuple[dt.time, dt.time]]]:
    """A weekly schedule {"mon": [["09:00", "17:00"]], …} as times; ValueError on bad input."""
    schedule: dict[str, list[tuple[dt.time, dt.time]]] = {}
    for day, windows in (raw or {}).items():
        if day not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
        parsed = []
        for window in windows:
            parts = list(window)
            if len(parts) != 2:
                raise ValueError(f"{day}: a window is [start, end]")
            start, end = (dt.time.fromisoformat(str(p)) for p in parts)
            if start >= end:
                raise ValueError(f"{day}: {parts[0]}–{parts[1]} ends before it starts")
            parsed.append((start, end))
        schedule[day] = sorted(parsed)
    return schedule


def local_time(moment: dt.datetime, timezone: str) -> dt.datetime:
    try:
        return moment.astimezone(ZoneInfo(timezone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(dt.UTC)


def unavailable(rep: Rep, team: TeamPlan, now: dt.datetime) -> str | None:
    """Why `rep` cannot take a lead in `team` at `now`, or None when they can."""
    if not rep.is_active:
        return "inactive"
    if not rep.accepts_leads:
        return "not taking leads"
    local = local_time(now, rep.timezone)
    today = local.date()
    for start, end in rep.out_of_office:
        if start <= today <= end:
            return f"out of office until {end.isoformat()}"
    if today in team.holidays:
        return "team holiday"
    if rep.schedule is not None:
        windows = rep.schedule.get(WEEKDAYS[local.weekday()], [])
        moment = local.time().replace(tzinfo=None)
        if not any(start <= moment < end for start, end in windows):
            return "outside working hours"
    if team.daily_cap is not None and rep.assigned_today >= team.daily_cap:
        return f"daily cap of {team.daily_cap} reached"
    if team.open_cap is not None and rep.open_leads >= team.open_cap:
        return f"open-lead cap of {team.open_cap} reached"
    return None


def _rotation(member_ids: Iterable[int], last_user_id: int | None) -> list[int]:
    """Members in id order, starting after the last one served."""
    ordered = sorted(member_ids)
    if last_user_id is None:
        return ordered
    split = next((i for i, member in enumerate(ordered) if member > last_user_id), len(ordered))
    return ordered[split:] + ordered[:split]


def distribute(
    team: TeamPlan, reps: Mapping[int, Rep], turn: Turn, now: dt.datetime
) -> tuple[int | None, list[Skip]]:
    """The rep in `team` who gets the next lead by the team's method (None if nobody is available),
    and the reps skipped on the way with reasons. Updates the turn and the chosen rep's load."""
    order = [member for member in _rotation(team.members, turn.last_user_id) if member in reps]
    skipped: list[Skip] = []
    available: list[int] = []
    for member in order:
        reason = unavailable(reps[member], team, now)
        if reason is None:
            available.append(member)
            if team.method == "round_robin":
                break
        else:
            skipped.append(Skip(member, reps[member].name, reason))
    if not available:
        return None, skipped
    if team.method == "weighted":
        total = 0
        for member in available:
            weight = max(team.members[member], 0)
            turn.credits[member] = turn.credits.get(member, 0) + weight
            total += weight
        chosen = max(available, key=lambda m: (turn.credits[m], -available.index(m)))
        turn.credits[chosen] -= total
    elif team.method == "load":
        chosen = min(available, key=lambda m: (reps[m].open_leads, available.index(m)))
    else:
        chosen = available[0]
    if team.method == "round_robin":
        skipped = [s for s in skipped if order.index(s.rep_id) < order.index(chosen)]
    turn.last_user_id = chosen
    reps[chosen].assigned_today += 1
    reps[chosen].open_leads += 1
    return chosen, skipped


def match_rule(rules: Iterable[Rule], record: Mapping[str, Any]) -> Rule | None:
    """The first active rule whose condition holds for the lead."""
    return next((rule for rule in rules if rule.predicate(record)), None)


def decide(
    record: Mapping[str, Any],
    ctx: Context,
    now: dt.datetime,
    *,
    account: tuple[int, str] | None = None,
) -> Decision:
    """Who gets the lead described by `record`: the account owner (`account`: the owner's id and what
    they own), else the first matching rule's target, else the default team; inside a team by its
    method, with fallbacks when nobody is free."""
    return decide_matched(record, match_rule(ctx.rules, record), ctx, now, account=account)


def decide_matched(
    record: Mapping[str, Any],
    rule: Rule | None,
    ctx: Context,
    now: dt.datetime,
    *,
    account: tuple[int, str] | None = None,
) -> Decision:
    """decide() with the first matching rule already found (match_rule), so a batch matches each lead once."""
    decision = Decision()
    if account is not None:
        owner = ctx.reps.get(account[0])
        if owner is not None and owner.is_active:
            decision.owner_id = owner.id
            decision.rule = f"Account match: {owner.name} owns {account[1]}"
            decision.method = "account owner"
            owner.assigned_today += 1
            owner.open_leads += 1
            decision.summary = f"{decision.rule} → {owner.name}."
            return decision
    team_id: int | None
    if rule is not None:
        decision.rule_id = rule.id
        decision.rule = f"Rule '{rule.name}' ({describe(rule.condition)})"
        decision.rule_lines = explain(rule.condition, ctx.fields, record)
        if rule.target == "user":
            return _to_user(decision, ctx, rule, now)
        if rule.target == "pool":
            decision.team_id = rule.team_id
            where = (
                f"{ctx.teams[rule.team_id].name}'s unassigned pool"
                if rule.team_id in ctx.teams
                else ("the unassigned pool")
            )
            decision.summary = f"{decision.rule} → {where}."
            return decision
        team_id = rule.team_id
    else:
        team_id = ctx.default_team_id
        if team_id is None:
            decision.summary = "Left in the unassigned pool: no default team is set."
            return decision
    return _in_team(decision, ctx, team_id, now)


def _to_user(decision: Decision, ctx: Context, rule: Rule, now: dt.datetime) -> Decision:
    rep = ctx.reps.get(rule.user_id) if rule.user_id is not None else None
    team = ctx.teams.get(rule.team_id) if rule.team_id is not None else None
    if rep is not None:
        reason = unavailable(rep, team or TeamPlan(id=0, name=""), now)
        if reason is None:
            decision.owner_id, decision.team_id, decision.method = rep.id, rule.team_id, "named rep"
            rep.assigned_today += 1
            rep.open_leads += 1
            decision.summary = f"{decision.rule} → {rep.name}."
            return decision
        decision.skipped.append(Skip(rep.id, rep.name, reason))
    if team is not None:
        decision.fallbacks.append(
            f"{rep.name if rep else 'the rep'} is unavailable; tried their team {team.name}"
        )
        return _in_team(decision, ctx, team.id, now)
    decision.fallbacks.append("nobody available; left in the unassigned pool")
    decision.summary = _summary(decision, None, ctx)
    return decision


def _in_team(decision: Decision, ctx: Context, team_id: int | None, now: dt.datetime) -> Decision:
    """Distributes inside the team, following its fallbacks (next team, manager, pool) when nobody is free."""
    seen: set[int] = set()
    while (
        team_id is not None and team_id in ctx.teams and team_id not in seen and len(seen) < MAX_FALLBACK_HOPS
    ):
        seen.add(team_id)
        team = ctx.teams[team_id]
        decision.team_id = team.id
        turn = ctx.turns.setdefault(team.id, Turn())
        owner_id, skipped = distribute(team, ctx.reps, turn, now)
        decision.skipped.extend(skipped)
        if owner_id is not None:
            decision.owner_id = owner_id
            decision.method = METHOD_LABELS.get(team.method, team.method)
            decision.summary = _summary(decision, team, ctx)
            return decision
        nobody = "no member" if not team.members else "nobody"
        if team.fallback == "manager" and team.manager_id is not None and team.manager_id in ctx.reps:
            manager = ctx.reps[team.manager_id]
            if manager.is_active:
                decision.fallbacks.append(
                    f"{nobody} available in {team.name}; fell back to its manager {manager.name}"
                )
                decision.owner_id, decision.method = manager.id, "manager fallback"
                manager.assigned_today += 1
                manager.open_leads += 1
                decision.summary = _summary(decision, team, ctx)
                return decision
        if (
            team.fallback == "team"
            and team.fallback_team_id in ctx.teams
            and team.fallback_team_id not in seen
        ):
            assert team.fallback_team_id is not None
            decision.fallbacks.append(
                f"{nobody} available in {team.name}; fell back to {ctx.teams[team.fallback_team_id].name}"
            )
            team_id = team.fallback_team_id
            continue
        decision.fallbacks.append(f"{nobody} available in {team.name}; left in its unassigned pool")
        decision.summary = _summary(decision, team, ctx)
        return decision
    decision.summary = _summary(decision, None, ctx)
    return decision


def _summary(decision: Decision, team: TeamPlan | None, ctx: Context) -> str:
    owner = ctx.reps[decision.owner_id].name if decision.owner_id is not None else None
    skipped = ", ".join(f"{s.name} ({s.reason})" for s in decision.skipped)
    if not decision.rule and team is not None and not decision.fallbacks:
        # The default: keep the wording the intake trace has always used.
        if owner is None:  # pragma: no cover - a default team with nobody always records a fallback
            return f"Left in {team.name}'s unassigned pool."
        text = f"Assigned to {owner} by {decision.method} in the default team {team.name}."
        return text[:-1] + f"; skipped {skipped}." if skipped else text
    parts = [decision.rule or (f"Default team {team.name}" if team else "No rule matched")]
    if decision.rule and team is not None:
        parts[0] += f" → team {team.name}"
    if owner is not None and decision.method:
        parts.append(f"{decision.method} → {owner}")
    if skipped:
        parts.append(f"skipped {skipped}")
    parts.extend(decision.fallbacks)
    if owner is None and not decision.fallbacks:
        parts.append("left in the unassigned pool")
    return "; ".join(parts) + "."
