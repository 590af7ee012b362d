"""Reads for scoring: the policy, compiled rules, a lead's explanation and score history."""

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from leadflow.core.conditions import compile_condition, describe
from leadflow.core.config import config_cached
from leadflow.leads.models import Activity, ActivityKind, Lead
from leadflow.leads.selectors import custom_field_specs
from leadflow.scoring import engine
from leadflow.scoring.catalogue import ACTIVITY_CATALOGUE, lead_fields, lead_record
from leadflow.scoring.models import RescoreRun, RuleKind, ScorePoints, ScoringPolicy, ScoringRule

HISTORY_LIMIT = 20


def policy_get() -> ScoringPolicy:
    """The scoring and qualification settings (created with the defaults on first use).

    Cached per configuration generation; the returned copy is the caller's to change and save.
    """
    return copy.copy(config_cached("scoring.policy", _policy_load))


def _policy_load() -> ScoringPolicy:
    policy, _ = ScoringPolicy.objects.get_or_create(pk=1)
    return policy


def grade_thresholds(policy: ScoringPolicy) -> list[tuple[str, int]]:
    return [("A", policy.grade_a), ("B", policy.grade_b), ("C", policy.grade_c)]


def compile_rule(rule: ScoringRule, fields: Any) -> engine.Rule:
    return engine.Rule(
        id=rule.pk,
        name=rule.name,
        kind=rule.kind,
        points=rule.points,
        predicate=compile_condition(rule.condition, fields),
        cap=rule.cap,
        repeatable=rule.repeatable,
        decay=rule.decay,
        decay_days=rule.decay_days,
    )


def rules_compiled(*, kind: str | None = None) -> list[engine.Rule]:
    """Active rules, ready to apply, in order (cached per configuration generation)."""
    return list(config_cached(f"scoring.rules.{kind}", lambda: _rules_compile(kind)))


def _rules_compile(kind: str | None) -> list[engine.Rule]:
    rules = ScoringRule.objects.filter(active=True)
    if kind is not None:
        rules = rules.filter(kind=kind)
    rows = list(rules)
    fit_fields = lead_fields(custom_field_specs()) if any(r.kind == RuleKind.FIT for r in rows) else {}
    return [
        compile_rule(rule, fit_fields if rule.kind == RuleKind.FIT else ACTIVITY_CATALOGUE) for rule in rows
    ]


def awards_by_lead(*, lead_ids: list[int]) -> dict[int, list[engine.Award]]:
    """Ledger entries of many leads, in one query."""
    result: dict[int, list[engine.Award]] = {lead_id: [] for lead_id in lead_ids}
    rows = ScorePoints.objects.filter(lead_id__in=lead_ids).values_list(
        "lead_id", "rule_id", "points", "awarded_at", "expires_at"
    )
    for lead_id, rule_id, points, awarded_at, expires_at in rows:
        result[lead_id].append(engine.Award(rule_id, points, awarded_at, expires_at))
    return result


@dataclass(frozen=True)
class LedgerLine:
    rule: str
    points: int
    worth: float
    awarded_at: dt.datetime
    expires_at: dt.datetime | None
    decay: str
    activity_id: int | None

    @property
    def expired(self) -> bool:
        return self.worth == 0 and self.points != 0


@dataclass(frozen=True)
class FitLine:
    rule: str
    points: int
    condition: str


@dataclass(frozen=True)
class ScoreExplanation:
    fit: list[FitLine]
    ledger: list[LedgerLine]
    history: list[Activity]


def lead_score_explanation(*, lead: Lead, now: dt.datetime, ledger_limit: int = 50) -> ScoreExplanation:
    """Which fit rules hold for the lead now, and the latest engagement awards with what they are worth."""
    rules = list(ScoringRule.objects.filter(active=True))
    fields = lead_fields(custom_field_specs())
    record = lead_record(lead)
    fit = [
        FitLine(rule.name, rule.points, describe(rule.condition))
        for rule in rules
        if rule.kind == RuleKind.FIT and compile_condition(rule.condition, fields)(record)
    ]
    compiled = {r.pk: compile_rule(r, ACTIVITY_CATALOGUE) for r in rules if r.kind == RuleKind.ENGAGEMENT}
    ledger = []
    entries = ScorePoints.objects.filter(lead=lead).select_related("rule").order_by("-awarded_at", "-id")
    for entry in entries[:ledger_limit]:
        rule = compiled.get(entry.rule_id)
        award = engine.Award(entry.rule_id, entry.points, entry.awarded_at, entry.expires_at)
        worth = engine.award_value(rule, award, now) if rule is not None else 0.0
        ledger.append(
            LedgerLine(
                rule=entry.rule.name,
                points=entry.points,
                worth=round(worth, 1),
                awarded_at=entry.awarded_at,
                expires_at=entry.expires_at,
                decay=entry.rule.get_decay_display() if entry.rule.decay != "none" else "",
                activity_id=entry.activity_id,
            )
        )
    return ScoreExplanation(fit=fit, ledger=ledger, history=score_history(lead=lead))


def score_history(*, lead: Lead, limit: int = HISTORY_LIMIT) -> list[Activity]:
    """The lead's latest score changes (timeline entries of kind score_change)."""
    return list(
        Activity.objects.filter(lead=lead, kind=ActivityKind.SCORE_CHANGE).order_by("-occurred_at", "-id")[
            :limit
        ]
    )


def rule_list() -> QuerySet[ScoringRule]:
    return ScoringRule.objects.all()


def rescore_run_latest() -> RescoreRun | None:
    return RescoreRun.objects.first()
