"""Scoring arithmetic: fit points, engagement awards with caps and decay, grades and explanations.

Pure logic (no Django): callers pass the rules, the records and `now`, so every result is reproducible.

- Fit: every active fit rule whose condition holds for the lead gives its points (negative allowed).
- Engagement: a ledger of awards (rule, points, awarded_at, expires_at). A rule's awards count
  in full until they expire (window decay) or lose half their value every half-life; the sum per rule
  is limited to its cap (by magnitude, so a cap also bounds negative rules).
- Total = fit + engagement; the grade (A–D) comes from fit alone.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadflow.core.conditions import Predicate, Record

DECAY_NONE = "none"
DECAY_WINDOW = "window"
DECAY_HALF_LIFE = "half_life"


@dataclass(frozen=True)
class Rule:
    """A rule ready to apply: its condition compiled to a predicate."""

    id: int
    name: str
    kind: str  # "fit" or "engagement"
    points: int
    predicate: Predicate
    cap: int | None = None
    repeatable: bool = False
    decay: str = DECAY_NONE
    decay_days: int | None = None


@dataclass(frozen=True)
class Award:
    """One ledger entry: points a rule gave a lead for an activity."""

    rule_id: int
    points: int
    awarded_at: dt.datetime
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class RulePoints:
    """Points one rule contributes to a lead's score now."""

    rule_id: int
    name: str
    kind: str
    points: int

    def as_detail(self) -> dict[str, Any]:
        return {"name": self.name, "points": self.points, "kind": self.kind}


@dataclass(frozen=True)
class Score:
    fit: int
    engagement: int
    grade: str
    rules: tuple[RulePoints, ...]

    @property
    def total(self) -> int:
        return self.fit + self.engagement


def fit_points(rules: Iterable[Rule], record: Record) -> list[RulePoints]:
    """The fit rules that hold for the record, with their points, in rule order."""
    return [
        RulePoints(rule.id, rule.name, "fit", rule.points)
        for rule in rules
        if rule.kind == "fit" and rule.predicate(record)
    ]


def expiry(rule: Rule, awarded_at: dt.datetime) -> dt.datetime | None:
    """When an award of this rule stops counting: the end of its window; never for other decays."""
    if rule.decay == DECAY_WINDOW and rule.decay_days:
        return awarded_at + dt.timedelta(days=rule.decay_days)
    return None


def award_value(rule: Rule, award: Award, now: dt.datetime) -> float:
    """What an award is worth at `now` after its rule's decay (0 once expired)."""
    if award.expires_at is not None and now >= award.expires_at:
        return 0.0
    if rule.decay == DECAY_HALF_LIFE and rule.decay_days:
        age_days = max((now - award.awarded_at).total_seconds(), 0.0) / 86_400
        return award.points * 0.5 ** (age_days / rule.decay_days)
    return float(award.points)


def _capped(value: float, cap: int | None) -> float:
    if cap is None:
        return value
    return max(-abs(cap), min(abs(cap), value))


def engagement_points(
    rules: Mapping[int, Rule], awards: Iterable[Award], now: dt.datetime
) -> list[RulePoints]:
    """Each engagement rule's decayed, capped points from a lead's ledger (rules no longer active count 0)."""
    sums: dict[int, float] = {}
    for award in awards:
        rule = rules.get(award.rule_id)
        if rule is not None:
            sums[award.rule_id] = sums.get(award.rule_id, 0.0) + award_value(rule, award, now)
    result = []
    for rule_id, value in sums.items():
        rule = rules[rule_id]
        points = round(_capped(value, rule.cap))
        if points:
            result.append(RulePoints(rule.id, rule.name, "engagement", points))
    return result


def award_points(rule: Rule, awards: Sequence[Award], now: dt.datetime) -> int:
    """Points a new matching activity earns under the rule: 0 if a once-only rule already gave points,
    or if the rule's still-counting awards already reach its cap; otherwise the rule's points, cut to the cap.
    """
    mine = [a for a in awards if a.rule_id == rule.id]
    if not rule.repeatable and mine:
        return 0
    if rule.cap is None:
        return rule.points
    counting = sum(a.points for a in mine if a.expires_at is None or now < a.expires_at)
    room = abs(rule.cap) - abs(counting)
    if room <= 0:
        return 0
    return rule.points if abs(rule.points) <= room else (room if rule.points > 0 else -room)


def grade(fit: int, thresholds: Sequence[tuple[str, int]]) -> str:
    """The first letter whose minimum the fit score reaches, e.g. [("A", 60), ("B", 40)]; else D."""
    for letter, minimum in thresholds:
        if fit >= minimum:
            return letter
    return "D"


def score(
    *,
    rules: Sequence[Rule],
    record: Record,
    awards: Iterable[Award],
    now: dt.datetime,
    thresholds: Sequence[tuple[str, int]],
) -> Score:
    """A lead's fit, engagement and grade with the rules behind them."""
    fit = fit_points(rules, record)
    engagement = engagement_points({r.id: r for r in rules if r.kind == "engagement"}, awards, now)
    fit_total = sum(p.points for p in fit)
    return Score(
        fit=fit_total,
        engagement=sum(p.points for p in engagement),
        grade=grade(fit_total, thresholds),
        rules=(*fit, *engagement),
    )


def summary(result: Score) -> str:
    """ "Score 45 (fit 30, engagement 15): CEO +30, Pricing page +15." """
    head = f"Score {result.total} (fit {result.fit}, engagement {result.engagement})"
    if not result.rules:
        return f"{head}: no rule applies."
    return f"{head}: " + ", ".join(f"{p.name} {p.points:+d}" for p in result.rules) + "."
