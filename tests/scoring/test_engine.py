"""Pure scoring arithmetic with explicit times: caps, repeats, window expiry, half-life decay, grades."""

import datetime as dt

from leadflow.core.conditions import compile_condition
from leadflow.scoring import engine

NOW = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
FIELDS = {"job_title": "text", "event": "text"}


def rule(rule_id: int, points: int, kind: str = "engagement", **options: object) -> engine.Rule:
    condition = {"field": "job_title", "op": "contains", "value": "ceo"}
    return engine.Rule(
        id=rule_id,
        name=f"R{rule_id}",
        kind=kind,
        points=points,
        predicate=compile_condition(condition, FIELDS),
        **options,  # type: ignore[arg-type]
    )


def award(rule_id: int, points: int, days_ago: float, expires_in: float | None = None) -> engine.Award:
    awarded = NOW - dt.timedelta(days=days_ago)
    expires = NOW + dt.timedelta(days=expires_in) if expires_in is not None else None
    return engine.Award(rule_id, points, awarded, expires)


def test_fit_rules_add_up_with_negative_points_and_grade_from_fit() -> None:
    ceo, intern = rule(1, 30, "fit"), rule(2, -10, "fit")
    result = engine.score(
        rules=[ceo, intern],
        record={"job_title": "CEO"},
        awards=[],
        now=NOW,
        thresholds=[("A", 60), ("B", 25)],
    )
    assert (result.fit, result.engagement, result.total, result.grade) == (20, 0, 20, "D")
    assert [p.as_detail() for p in result.rules] == [
        {"name": "R1", "points": 30, "kind": "fit"},
        {"name": "R2", "points": -10, "kind": "fit"},
    ]
    assert engine.summary(result) == "Score 20 (fit 20, engagement 0): R1 +30, R2 -10."
    assert engine.grade(25, [("A", 60), ("B", 25)]) == "B"


def test_a_once_only_rule_awards_once_and_a_repeatable_one_until_its_cap() -> None:
    once = rule(1, 10)
    repeat = rule(2, 10, repeatable=True, cap=25)
    assert engine.award_points(once, [], NOW) == 10
    assert engine.award_points(once, [award(1, 10, 1)], NOW) == 0
    assert engine.award_points(repeat, [award(2, 10, 1)], NOW) == 10
    assert engine.award_points(repeat, [award(2, 10, 1), award(2, 10, 1)], NOW) == 5  # cut to the cap
    assert engine.award_points(repeat, [award(2, 10, 1), award(2, 10, 1), award(2, 5, 1)], NOW) == 0


def test_caps_bound_negative_rules_and_the_ledger_sum() -> None:
    unsubscribed = rule(3, -50, repeatable=True, cap=60)
    assert engine.award_points(unsubscribed, [award(3, -50, 1)], NOW) == -10
    points = engine.engagement_points({3: unsubscribed}, [award(3, -50, 1), award(3, -50, 1)], NOW)
    assert [p.points for p in points] == [-60]


def test_window_decay_expires_points_and_frees_the_cap() -> None:
    pricing = rule(4, 10, repeatable=True, cap=10, decay=engine.DECAY_WINDOW, decay_days=30)
    awarded_at = NOW - dt.timedelta(days=29)
    assert engine.expiry(pricing, awarded_at) == NOW + dt.timedelta(days=1)
    live = engine.Award(4, 10, awarded_at, engine.expiry(pricing, awarded_at))
    assert [p.points for p in engine.engagement_points({4: pricing}, [live], NOW)] == [10]
    assert engine.award_points(pricing, [live], NOW) == 0
    later = NOW + dt.timedelta(days=1)
    assert engine.engagement_points({4: pricing}, [live], later) == []
    assert engine.award_points(pricing, [live], later) == 10


def test_half_life_halves_the_points_every_period() -> None:
    whitepaper = rule(5, 16, decay=engine.DECAY_HALF_LIFE, decay_days=7)
    fresh, week, fortnight = award(5, 16, 0), award(5, 16, 7), award(5, 16, 14)
    assert engine.award_value(whitepaper, fresh, NOW) == 16
    assert engine.award_value(whitepaper, week, NOW) == 8
    assert engine.award_value(whitepaper, fortnight, NOW) == 4
    assert [p.points for p in engine.engagement_points({5: whitepaper}, [week, fortnight], NOW)] == [12]


def test_awards_of_rules_no_longer_active_count_nothing() -> None:
    assert engine.engagement_points({}, [award(9, 10, 1)], NOW) == []
