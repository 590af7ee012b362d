"""Scoring and qualification: rules as data, the intake steps, activity points, MQL review, rescoring.

- leads_score (intake step 5): fit from compiled rule predicates over the in-memory leads, engagement
  from the points ledger (one query for the batch). With no rules at all, scores stay as they are.
- leads_qualify (intake step 6): the ScoringPolicy moves stages forward only (lead → MQL → SQL), never
  back, and never for leads a person recycled or disqualified. Off until enabled in the policy.
- activity_score: an arriving behaviour event earns engagement points (once or each time, within the
  rule's cap) and the lead's scores and stage are updated at once.
- Rule or grade changes rescore every lead in the background (scoring.tasks.rescore), set-based.
"""

import datetime as dt
import operator
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, Min, Value, When
from django.db.models.expressions import Combinable
from django.utils import timezone

from leadflow.access.models import User
from leadflow.core.conditions import ConditionError, compile_condition, describe, validate
from leadflow.core.conditions_sql import to_q
from leadflow.core.db import bulk_update_fast
from leadflow.core.queue import enqueue_after_commit
from leadflow.leads.models import FUNNEL, Activity, ActivityKind, Lead, Stage, StageTransition
from leadflow.leads.selectors import custom_field_specs
from leadflow.leads.services import lead_stage_change
from leadflow.leads.steps import StepOutcome
from leadflow.scoring import engine
from leadflow.scoring.catalogue import (
    ACTIVITY_CATALOGUE,
    COLUMN_FIELDS,
    LEAD_FIELDS,
    activity_record,
    lead_fields,
    lead_record,
)
from leadflow.scoring.models import (
    Decay,
    RescoreRun,
    RescoreStatus,
    RuleKind,
    ScorePoints,
    ScoringPolicy,
    ScoringRule,
)
from leadflow.scoring.selectors import awards_by_lead, grade_thresholds, policy_get, rules_compiled

RULE_FIELDS = (
    "name",
    "kind",
    "condition",
    "points",
    "cap",
    "repeatable",
    "decay",
    "decay_days",
    "active",
    "order",
)
RESCORE_CHUNK = 100_000
PYTHON_CHUNK = 2_000
DECAY_INTERVAL = dt.timedelta(hours=1)


class ScoringError(ValueError):
    """Input that cannot be saved, with one message per field (dotted paths for conditions)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _condition_errors(err: ConditionError, prefix: str = "condition") -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in err.problems:
        path, _, message = problem.partition(": ")
        key = prefix + path.removeprefix("condition")
        errors[key] = f"{errors[key]}; {message}" if key in errors else message
    return errors


# ----------------------------------------------------------------------------------------------------
# Rules
# ----------------------------------------------------------------------------------------------------


def rule_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's values checked and normalized, or ScoringError with a message per field."""
    errors: dict[str, str] = {}
    clean = dict(values)
    unknown = set(values) - set(RULE_FIELDS)
    for name in sorted(unknown):
        errors[name] = "Not a rule field."
    name = str(values.get("name") or "").strip()
    if not name:
        errors["name"] = "A rule needs a name."
    clean["name"] = name[:100]
    kind = values.get("kind")
    if kind not in RuleKind.values:
        errors["kind"] = f"Choose one of: {', '.join(RuleKind.values)}."
    points = values.get("points")
    if not isinstance(points, int) or isinstance(points, bool):
        errors["points"] = "Points must be a whole number (negative lowers the score)."
    elif points == 0:
        errors["points"] = "A rule that gives 0 points does nothing."
    cap = values.get("cap")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0):
        errors["cap"] = "A cap must be a positive whole number, or empty for no cap."
    decay = values.get("decay") or Decay.NONE
    clean["decay"] = decay
    days = values.get("decay_days")
    if decay not in Decay.values:
        errors["decay"] = f"Choose one of: {', '.join(Decay.values)}."
    elif decay != Decay.NONE and (not isinstance(days, int) or isinstance(days, bool) or days <= 0):
        errors["decay_days"] = "Decay needs a positive number of days."
    elif decay == Decay.NONE:
        clean["decay_days"] = None
    if kind == RuleKind.FIT and (decay != Decay.NONE or cap is not None or values.get("repeatable")):
        errors.setdefault(
            "kind", "Caps, repeats and decay apply to engagement rules; a fit rule holds or doesn't."
        )
    if kind in RuleKind.values:
        fields = lead_fields(custom_field_specs()) if kind == RuleKind.FIT else ACTIVITY_CATALOGUE
        try:
            clean["condition"] = validate(values.get("condition"), fields)
        except ConditionError as err:
            errors.update(_condition_errors(err))
    if errors:
        raise ScoringError(errors)
    return clean


@transaction.atomic
def rule_create(*, values: Mapping[str, Any], actor: User | None) -> ScoringRule:
    """Saves a new rule (rejected with per-field messages if invalid) and rescores every lead."""
    clean = rule_clean({"repeatable": False, "active": True, "order": 0, **values})
    rule = ScoringRule.objects.create(**clean)
    rescore_start(
        reason=f"Rule “{rule.name}” added",
        actor=actor,
        engagement=rule.kind == RuleKind.ENGAGEMENT,
        scope=_fit_scope((rule.kind, rule.condition)),
    )
    return rule


@transaction.atomic
def rule_update(*, rule: ScoringRule, changes: Mapping[str, Any], actor: User | None) -> ScoringRule:
    """Changes a rule and rescores every lead."""
    current = {name: getattr(rule, name) for name in RULE_FIELDS}
    engagement, before = rule.kind == RuleKind.ENGAGEMENT, (rule.kind, rule.condition)
    clean = rule_clean({**current, **changes})
    for name, value in clean.items():
        setattr(rule, name, value)
    rule.save()
    rescore_start(
        reason=f"Rule “{rule.name}” changed",
        actor=actor,
        engagement=engagement or rule.kind == RuleKind.ENGAGEMENT,
        scope=_fit_scope(before, (rule.kind, rule.condition)),
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: ScoringRule, actor: User | None) -> None:
    """Deletes a rule with the points it gave, and rescores every lead."""
    name, engagement = rule.name, rule.kind == RuleKind.ENGAGEMENT
    scope = _fit_scope((rule.kind, rule.condition))
    rule.delete()
    rescore_start(reason=f"Rule “{name}” deleted", actor=actor, engagement=engagement, scope=scope)


# ----------------------------------------------------------------------------------------------------
# Policy
# ----------------------------------------------------------------------------------------------------

POLICY_FIELDS = (
    "grade_a",
    "grade_b",
    "grade_c",
    "qualification_enabled",
    "mql_score",
    "mql_requires_email",
    "sql_condition",
    "pql_events",
    "pql_threshold",
)


@transaction.atomic
def policy_update(*, changes: Mapping[str, Any], actor: User | None) -> ScoringPolicy:
    """Changes the scoring and qualification settings; new grade thresholds regrade every lead."""
    policy = policy_get()
    errors: dict[str, str] = {}
    for name in set(changes) - set(POLICY_FIELDS):
        errors[name] = "Not a policy setting."
    values = {name: changes.get(name, getattr(policy, name)) for name in POLICY_FIELDS}
    for name in ("grade_a", "grade_b", "grade_c", "mql_score", "pql_threshold"):
        if not isinstance(values[name], int) or isinstance(values[name], bool):
            errors[name] = "Must be a whole number."
    if not errors and not values["grade_a"] >= values["grade_b"] >= values["grade_c"]:
        errors["grade_a"] = "Grade thresholds must not increase from A to C."
    if (
        values["pql_threshold"]
        and not isinstance(values["pql_threshold"], bool)
        and values["pql_threshold"] < 0
    ):
        errors["pql_threshold"] = "Must be 0 (off) or more."
    events = values["pql_events"]
    if not isinstance(events, list) or not all(isinstance(e, str) and e.strip() for e in events):
        errors["pql_events"] = "A list of event names."
    else:
        values["pql_events"] = [e.strip() for e in events]
    if values["sql_condition"] in ({}, ""):
        values["sql_condition"] = None
    if values["sql_condition"] is not None:
        try:
            values["sql_condition"] = validate(values["sql_condition"], lead_fields(custom_field_specs()))
        except ConditionError as err:
            errors.update(_condition_errors(err, "sql_condition"))
    if errors:
        raise ScoringError(errors)
    regrade = any(values[n] != getattr(policy, n) for n in ("grade_a", "grade_b", "grade_c"))
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    if regrade:
        rescore_start(reason="Grade thresholds changed", actor=actor, engagement=False)
    return policy


def policy_sentences(policy: ScoringPolicy) -> list[str]:
    """The qualification definition in words, as the UI shows it."""
    grades = (
        f"Grades come from the fit score: A from {policy.grade_a}, B from {policy.grade_b}, "
        f"C from {policy.grade_c}, D below."
    )
    if not policy.qualification_enabled:
        return [grades, "Automatic qualification is off: stages change only when a person moves them."]
    email = " and the email address is valid" if policy.mql_requires_email else ""
    lines = [grades, f"A lead becomes an MQL when its total score reaches {policy.mql_score}{email}."]
    sql = "A lead becomes an SQL when a sales rep accepts it"
    if policy.sql_condition:
        sql += f", or automatically when {describe(policy.sql_condition)} (BANT)"
    lines.append(sql + ".")
    if policy.pql_threshold and policy.pql_events:
        lines.append(
            f"A lead is product-qualified (PQL, moved to MQL for sales review) after {policy.pql_threshold} "
            f"product-usage events ({', '.join(policy.pql_events)})."
        )
    lines.append(
        "Stages only move forward automatically; recycled and disqualified leads are left to people. "
        "Sales accept or reject each MQL with a reason; a rejected lead is recycled to marketing."
    )
    return lines


# ----------------------------------------------------------------------------------------------------
# Intake steps
# ----------------------------------------------------------------------------------------------------


def _score_activity(lead: Lead, before: int, result: engine.Score, now: dt.datetime, cause: str) -> Activity:
    return Activity(
        lead=lead,
        kind=ActivityKind.SCORE_CHANGE,
        summary=f"Score {before} → {result.total} ({cause})"[:300],
        payload={
            "from": before,
            "to": result.total,
            "fit": result.fit,
            "engagement": result.engagement,
            "grade": result.grade,
            "reason": cause,
            "rules": [p.as_detail() for p in result.rules],
        },
        occurred_at=now,
    )


def _apply_score(lead: Lead, result: engine.Score) -> bool:
    before = (lead.score, lead.fit_score, lead.engagement_score, lead.grade)
    lead.fit_score, lead.engagement_score = result.fit, result.engagement
    lead.score, lead.grade = result.total, result.grade
    return before != (lead.score, lead.fit_score, lead.engagement_score, lead.grade)


def leads_score(*, leads: list[Lead], now: dt.datetime | None = None) -> dict[int, StepOutcome]:
    """Scores a batch in memory: fit rules per lead, engagement from the ledger (one query)."""
    rules = rules_compiled()
    if not rules:
        return {
            lead.pk: StepOutcome(
                summary=f"Score {lead.score}: no scoring rules are defined.", detail={"score": lead.score}
            )
            for lead in leads
        }
    now = now or timezone.now()
    thresholds = grade_thresholds(policy_get())
    ledger = awards_by_lead(lead_ids=[lead.pk for lead in leads])
    outcomes = {}
    for lead in leads:
        result = engine.score(
            rules=rules, record=lead_record(lead), awards=ledger[lead.pk], now=now, thresholds=thresholds
        )
        before = lead.score
        _apply_score(lead, result)
        text = engine.summary(result)
        outcomes[lead.pk] = StepOutcome(
            summary=text,
            detail={
                "score": result.total,
                "fit": result.fit,
                "engagement": result.engagement,
                "grade": result.grade,
                "rules": [p.as_detail() for p in result.rules],
            },
            activities=[_score_activity(lead, before, result, now, "lead data")]
            if before != result.total
            else [],
        )
    return outcomes


def _product_usage(policy: ScoringPolicy, lead_ids: list[int]) -> dict[int, int]:
    if not (policy.pql_threshold and policy.pql_events and lead_ids):
        return {}
    rows = (
        Activity.objects.filter(
            lead_id__in=lead_ids,
            kind__in=[ActivityKind.EVENT, ActivityKind.PAGE_VIEW],
            payload__event__in=policy.pql_events,
        )
        .values("lead_id")
        .annotate(n=Count("id"))
        .values_list("lead_id", "n")
    )
    return dict(rows)


def _qualification(
    lead: Lead, policy: ScoringPolicy, sql_test: Any, usage: int
) -> tuple[str, str, str] | None:
    """The furthest stage the policy qualifies the lead for: (stage, label, reason), or None."""
    if sql_test is not None and sql_test(lead_record(lead)):
        return Stage.SQL, "SQL", f"BANT criteria met: {describe(policy.sql_condition)}"
    if lead.score >= policy.mql_score and (lead.email_normalized or not policy.mql_requires_email):
        email = " and the email is valid" if policy.mql_requires_email else ""
        return Stage.MQL, "MQL", f"score {lead.score} reached {policy.mql_score}{email}"
    if policy.pql_threshold and usage >= policy.pql_threshold:
        return Stage.MQL, "PQL", f"{usage} product-usage events reached {policy.pql_threshold}"
    return None


def leads_qualify(
    *, leads: list[Lead], now: dt.datetime | None = None, policy: ScoringPolicy | None = None
) -> dict[int, StepOutcome]:
    """Moves stages forward by the policy (in memory), returning the transitions and timeline entries."""
    policy = policy or policy_get()
    if not policy.qualification_enabled:
        return {
            lead.pk: StepOutcome(
                summary=f"Stage stays {lead.stage}: no qualification rules are defined.",
                detail={"stage": lead.stage},
            )
            for lead in leads
        }
    now = now or timezone.now()
    sql_test = (
        compile_condition(policy.sql_condition, lead_fields(custom_field_specs()))
        if policy.sql_condition
        else None
    )
    usage = _product_usage(policy, [lead.pk for lead in leads])
    order = [stage.value for stage in FUNNEL]
    outcomes = {}
    for lead in leads:
        found = _qualification(lead, policy, sql_test, usage.get(lead.pk, 0))
        if lead.stage not in order:
            outcomes[lead.pk] = StepOutcome(
                summary=f"Stage stays {lead.stage}: a person took this lead out of the funnel.",
                detail={"stage": lead.stage},
            )
            continue
        if found is None or order.index(found[0]) <= order.index(lead.stage):
            why = f"already {lead.stage}" if found else "no qualification criterion is met"
            outcomes[lead.pk] = StepOutcome(
                summary=f"Stage stays {lead.stage}: {why}.", detail={"stage": lead.stage}
            )
            continue
        stage, label, reason = found
        previous, lead.stage = lead.stage, stage
        if lead.qualified_at is None:
            lead.qualified_at = now
        text = f"{label}: {reason}"
        outcomes[lead.pk] = StepOutcome(
            summary=f"Stage {previous} → {stage}: {text}.",
            detail={"stage": stage, "from": previous, "qualification": label, "reason": reason},
            transitions=[
                StageTransition(
                    lead=lead,
                    field=StageTransition.Field.STAGE,
                    from_value=previous,
                    to_value=stage,
                    reason=text[:500],
                    occurred_at=now,
                )
            ],
            activities=[
                Activity(
                    lead=lead,
                    kind=ActivityKind.STAGE_CHANGE,
                    summary=f"Stage {previous} → {stage}: {text}"[:300],
                    payload={"from": previous, "to": stage, "reason": text, "qualification": label},
                    occurred_at=now,
                )
            ],
        )
    return outcomes


# ----------------------------------------------------------------------------------------------------
# An arriving activity
# ----------------------------------------------------------------------------------------------------

SCORE_FIELDS = ["score", "fit_score", "engagement_score", "grade", "stage", "qualified_at"]


def activity_score(
    *, lead: Lead, activity: Activity, now: dt.datetime | None = None, unsaved: Sequence[str] = ()
) -> StepOutcome | None:
    """Awards the engagement points an activity earns and updates the lead's scores and stage at once.

    A product-usage event (ScoringPolicy.pql_events) is checked for PQL even when it earns no points.
    `unsaved` names lead fields the caller changed but did not save; they are saved with the scores, or
    alone when nothing else changes. An unsaved `activity` is inserted here, in one statement with its
    score-history entry. Returns None when nothing changes.
    """
    now = now or timezone.now()
    rules = rules_compiled(kind=RuleKind.ENGAGEMENT)
    record = activity_record(activity.kind, activity.payload)
    pending: list[Activity] = [activity] if activity.pk is None else []
    matching = [rule for rule in rules if rule.predicate(record)]
    if not matching:
        return _product_usage_qualify(
            lead=lead, event=record["event"], now=now, unsaved=unsaved, pending=pending
        )
    awards = awards_by_lead(lead_ids=[lead.pk])[lead.pk]
    new = []
    for rule in matching:
        points = engine.award_points(rule, awards, now)
        if points:
            award = engine.Award(
                rule.id, points, activity.occurred_at, engine.expiry(rule, activity.occurred_at)
            )
            awards.append(award)
            new.append(
                ScorePoints(
                    lead=lead,
                    rule_id=rule.id,
                    points=points,
                    awarded_at=award.awarded_at,
                    expires_at=award.expires_at,
                )
            )
    if not new:
        return _product_usage_qualify(
            lead=lead, event=record["event"], now=now, unsaved=unsaved, pending=pending
        )
    rule_names = {r.id: r.name for r in rules}
    cause = ", ".join(f"{rule_names[p.rule_id]} {p.points:+d}" for p in new)
    policy = policy_get()
    pending = _saved_if_counted(pending, record["event"], policy)
    thresholds = grade_thresholds(policy)
    engagement = engine.engagement_points({r.id: r for r in rules}, awards, now)
    engagement_total = sum(p.points for p in engagement)
    before = lead.score
    result = engine.Score(
        fit=lead.fit_score,
        engagement=engagement_total,
        grade=engine.grade(lead.fit_score, thresholds),
        rules=tuple(engagement),
    )
    _apply_score(lead, result)
    activities = [_score_activity(lead, before, result, now, cause)] if before != result.total else []
    qualified = leads_qualify(leads=[lead], now=now, policy=policy)[lead.pk]
    Activity.objects.bulk_create([*pending, *activities, *qualified.activities])
    for award_row in new:
        award_row.activity_id = activity.pk
    ScorePoints.objects.bulk_create(new)
    saved = [*SCORE_FIELDS, *unsaved]
    Lead.objects.filter(pk=lead.pk).update(**{name: getattr(lead, name) for name in saved})
    StageTransition.objects.bulk_create(qualified.transitions)
    return StepOutcome(
        summary=f"Engagement {cause}; score {before} → {result.total}.",
        detail={
            "score": result.total,
            "awards": [{"rule": rule_names[p.rule_id], "points": p.points} for p in new],
        },
        activities=activities + qualified.activities,
        transitions=qualified.transitions,
    )


def _saved_if_counted(pending: list[Activity], event: str, policy: ScoringPolicy) -> list[Activity]:
    """Inserts a pending product-usage event before qualification counts such events; returns what is
    still to insert."""
    if pending and event and policy.qualification_enabled and event in policy.pql_events:
        Activity.objects.bulk_create(pending)
        return []
    return pending


def _save_qualification(
    lead: Lead, outcome: StepOutcome | None, unsaved: Sequence[str], pending: list[Activity]
) -> None:
    fields = [*unsaved]
    activities = list(pending)
    if outcome is not None and outcome.transitions:
        fields += ["stage", "qualified_at"]
        activities += outcome.activities
        StageTransition.objects.bulk_create(outcome.transitions)
    Activity.objects.bulk_create(activities)
    if fields:
        Lead.objects.filter(pk=lead.pk).update(**{name: getattr(lead, name) for name in fields})


def _product_usage_qualify(
    *, lead: Lead, event: str, now: dt.datetime, unsaved: Sequence[str], pending: list[Activity]
) -> StepOutcome | None:
    """A product-usage event that earns no points may still make the lead a PQL."""
    outcome = None
    if event:
        policy = policy_get()
        if policy.qualification_enabled and policy.pql_threshold and event in policy.pql_events:
            pending = _saved_if_counted(pending, event, policy)
            outcome = leads_qualify(leads=[lead], now=now, policy=policy)[lead.pk]
    _save_qualification(lead, outcome, unsaved, pending)
    return outcome


# ----------------------------------------------------------------------------------------------------
# Sales review of MQLs
# ----------------------------------------------------------------------------------------------------


def _who(actor: User | None) -> str:
    return actor.get_username() if actor is not None else "an API client"


@transaction.atomic
def mql_accept(*, lead: Lead, actor: User | None, reason: str = "") -> StageTransition:
    """A rep accepts an MQL: it becomes an SQL."""
    if lead.stage != Stage.MQL:
        raise ScoringError({"stage": f"Only MQLs can be accepted; this lead is {lead.stage}."})
    note = reason.strip()
    transition = lead_stage_change(
        lead=lead,
        stage=Stage.SQL,
        reason=f"Accepted by {_who(actor)}" + (f": {note}" if note else ""),
        actor=actor,
    )
    assert transition is not None
    return transition


@transaction.atomic
def mql_reject(*, lead: Lead, actor: User | None, reason: str) -> StageTransition:
    """A rep rejects an MQL with a reason: it is recycled to marketing."""
    if lead.stage != Stage.MQL:
        raise ScoringError({"stage": f"Only MQLs can be rejected; this lead is {lead.stage}."})
    note = reason.strip()
    if not note:
        raise ScoringError({"reason": "Say why the lead is rejected; marketing reads it."})
    transition = lead_stage_change(
        lead=lead, stage=Stage.RECYCLED, reason=f"Rejected by {_who(actor)}: {note}", actor=actor
    )
    assert transition is not None
    return transition


# ----------------------------------------------------------------------------------------------------
# Background rescoring and decay
# ----------------------------------------------------------------------------------------------------


def _fit_scope(*states: tuple[str, Any]) -> list[Any] | None:
    """The fit conditions a rule change touches (only leads matching one of them may change fit),
    or None (every lead) when a condition needs Python (custom fields)."""
    conditions = [condition for kind, condition in states if kind == RuleKind.FIT]
    return conditions if all(_uses_columns_only(c) for c in conditions) else None


def rescore_start(
    *, reason: str, actor: User | None, engagement: bool = True, scope: list[Any] | None = None
) -> RescoreRun:
    """Records a rescore of every lead and enqueues it once the transaction commits.

    `engagement`: recompute engagement from the ledger too (needed when an engagement rule changed).
    `scope`: fit is recomputed only for leads matching one of these conditions ([] = none; None = all).
    """
    from leadflow.scoring.tasks import rescore  # the task module imports these services

    run = RescoreRun.objects.create(reason=reason[:300], actor=actor, scope=scope)
    enqueue_after_commit(lambda: rescore.enqueue(run.pk, engagement))
    return run


def _fit_expression(rules: Iterable[ScoringRule]) -> Combinable:
    total: Combinable = Value(0)
    for rule in rules:
        total = total + Case(
            When(to_q(rule.condition, LEAD_FIELDS), then=Value(rule.points)),
            default=Value(0),
            output_field=IntegerField(),
        )
    return total


def _rescore_fit_sql(
    rules: list[ScoringRule], policy: ScoringPolicy, low: int, high: int, scope: list[Any] | None
) -> int:
    """One UPDATE for leads with low ≤ id < high: the fit sum (a CASE per rule, computed once per row in a
    subquery), total and grade; only rows whose figures change are written. Returns rows changed.
    """
    leads = Lead.objects.filter(id__gte=low, id__lt=high)
    if scope is not None:
        leads = leads.filter(reduce(operator.or_, (to_q(c, LEAD_FIELDS) for c in scope)))
    fit = leads.annotate(fit=_fit_expression(rules)).values("id", "fit")
    select_sql, select_params = fit.query.sql_with_params()
    if connection.vendor == "postgresql":
        select_sql += " OFFSET 0"  # keeps the subquery whole: the fit sum is computed once per row
    thresholds = grade_thresholds(policy)
    grade_sql = "CASE " + " ".join("WHEN f.fit >= %s THEN %s" for _ in thresholds) + " ELSE 'D' END"
    grade_params = [value for letter, minimum in thresholds for value in (minimum, letter)]
    table = connection.ops.quote_name(Lead._meta.db_table)
    sql = (
        f"UPDATE {table} SET fit_score = f.fit, score = f.fit + {table}.engagement_score, "
        f"grade = {grade_sql} "
        f"FROM ({select_sql}) AS f WHERE {table}.id = f.id AND {table}.id >= %s AND {table}.id < %s "
        f"AND ({table}.fit_score <> f.fit "
        f"OR {table}.score <> f.fit + {table}.engagement_score OR {table}.grade <> {grade_sql})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*grade_params, *select_params, low, high, *grade_params])
        return cursor.rowcount


def _uses_columns_only(condition: Any) -> bool:
    if "all" in condition or "any" in condition:
        return all(_uses_columns_only(c) for c in condition.get("all", condition.get("any", [])))
    if "not" in condition:
        return _uses_columns_only(condition["not"])
    return condition["field"] in COLUMN_FIELDS


def engagement_recompute(*, now: dt.datetime, lead_ids: list[int] | None = None) -> int:
    """Recomputes engagement (and total) from the ledger for leads with awards, or the given leads.

    Leads whose engagement is not 0 but who have no awards left are set to 0. Returns leads updated.
    """
    rules = {r.id: r for r in rules_compiled(kind=RuleKind.ENGAGEMENT)}
    updated = 0
    stale = Lead.objects.exclude(engagement_score=0).exclude(score_points__isnull=False)
    if lead_ids is not None:
        stale = stale.filter(pk__in=lead_ids)
    updated += stale.update(engagement_score=0, score=F("fit_score"))
    ids = (
        lead_ids
        if lead_ids is not None
        else list(ScorePoints.objects.values_list("lead_id", flat=True).distinct().order_by("lead_id"))
    )
    for start in range(0, len(ids), PYTHON_CHUNK):
        chunk = ids[start : start + PYTHON_CHUNK]
        ledger = awards_by_lead(lead_ids=chunk)
        changed = []
        for lead in Lead.objects.filter(pk__in=chunk).only("id", "fit_score", "engagement_score", "score"):
            engagement = sum(p.points for p in engine.engagement_points(rules, ledger.get(lead.pk, []), now))
            if engagement != lead.engagement_score or lead.score != lead.fit_score + engagement:
                lead.engagement_score, lead.score = engagement, lead.fit_score + engagement
                changed.append(lead)
        updated += bulk_update_fast(changed, ["engagement_score", "score"])
    return updated


def rescore_execute(*, run_id: int, now: dt.datetime | None = None, engagement: bool = True) -> RescoreRun:
    """Recomputes every lead's scores: engagement from the ledger (unless `engagement` is False: only fit
    rules or grades changed), then fit, total and grade set-based.

    Fit rules over lead columns become one UPDATE with a CASE per rule, chunked by id range; rules on
    custom fields are evaluated in Python over chunks of leads instead. Progress is saved per chunk.
    Running it again gives the same result (idempotent).
    """
    now = now or timezone.now()
    run = RescoreRun.objects.get(pk=run_id)
    if run.status == RescoreStatus.DONE:
        return run
    bounds = Lead.objects.aggregate(low=Min("id"), high=Max("id"), n=Count("id"))
    RescoreRun.objects.filter(pk=run_id).update(
        status=RescoreStatus.RUNNING, started_at=now, total=bounds["n"], done=0, error=""
    )
    try:
        changed = engagement_recompute(now=now) if engagement else 0
        policy = policy_get()
        fit_rules = list(ScoringRule.objects.filter(active=True, kind=RuleKind.FIT))
        in_sql = all(_uses_columns_only(rule.condition) for rule in fit_rules)
        if bounds["n"] and run.scope != []:
            step = RESCORE_CHUNK if in_sql else PYTHON_CHUNK
            first, span = bounds["low"], bounds["high"] - bounds["low"] + 1
            for low in range(first, bounds["high"] + 1, step):
                if in_sql:
                    changed += _rescore_fit_sql(fit_rules, policy, low, low + step, run.scope)
                else:
                    leads = list(Lead.objects.filter(id__gte=low, id__lt=low + step))
                    changed += _rescore_fit_python(leads, policy)
                done = bounds["n"] * min(low + step - first, span) // span  # progress by id range
                RescoreRun.objects.filter(pk=run_id).update(done=done, changed=changed)
    except Exception as err:
        RescoreRun.objects.filter(pk=run_id).update(
            status=RescoreStatus.FAILED, error=str(err)[:2000], finished_at=timezone.now()
        )
        raise
    RescoreRun.objects.filter(pk=run_id).update(
        status=RescoreStatus.DONE, done=bounds["n"], changed=changed, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def _rescore_fit_python(leads: list[Lead], policy: ScoringPolicy) -> int:
    rules = rules_compiled(kind=RuleKind.FIT)
    thresholds = grade_thresholds(policy)
    changed = []
    for lead in leads:
        fit = sum(p.points for p in engine.fit_points(rules, lead_record(lead)))
        figures = (fit, fit + lead.engagement_score, engine.grade(fit, thresholds))
        if figures != (lead.fit_score, lead.score, lead.grade):
            lead.fit_score, lead.score, lead.grade = figures
            changed.append(lead)
    return bulk_update_fast(changed, ["fit_score", "score", "grade"])


def decay_apply(*, now: dt.datetime | None = None) -> int:
    """Applies decay: recomputes engagement for leads holding awards of decaying rules. Idempotent."""
    now = now or timezone.now()
    decaying = ScoringRule.objects.exclude(decay=Decay.NONE).values("id")
    ids = list(
        ScorePoints.objects.filter(rule_id__in=decaying)
        .values_list("lead_id", flat=True)
        .distinct()
        .order_by("lead_id")
    )
    return engagement_recompute(now=now, lead_ids=ids) if ids else 0


def decay_chain_start() -> str:
    """Starts the periodic decay task (replacing any running chain) and returns its chain id."""
    from leadflow.scoring.tasks import decay  # the task module imports these services

    chain = uuid.uuid4().hex
    ScoringPolicy.objects.filter(pk=policy_get().pk).update(decay_chain=chain)
    enqueue_after_commit(lambda: decay.enqueue(chain))
    return chain
