"""Background rescoring (set-based SQL and the Python path for custom fields) and periodic decay."""

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from django.core.management import call_command

from leadflow.core.config import config_snapshot
from leadflow.leads.models import CustomField, Lead
from leadflow.scoring import engine
from leadflow.scoring.catalogue import lead_record
from leadflow.scoring.models import RescoreRun, RescoreStatus, ScorePoints, ScoringRule
from leadflow.scoring.selectors import awards_by_lead, grade_thresholds, policy_get, rules_compiled
from leadflow.scoring.services import (
    decay_apply,
    decay_chain_start,
    leads_score,
    policy_update,
    rescore_execute,
    rule_update,
)
from leadflow.scoring.tasks import decay
from tests.scoring.conftest import CEO, INTERN

MakeRule = Callable[..., ScoringRule]
TITLES = ["CEO", "ceo ", "Intern", "VP Sales", "", "Chief Executive", "CEO & intern"]
COUNTRIES = ["DE", "AT", "us", "", "FR"]


def make_leads(count: int) -> list[Lead]:
    rng = random.Random(7)
    return Lead.objects.bulk_create(
        [
            Lead(
                email=f"l{i}@example.com",
                job_title=rng.choice(TITLES),
                country=rng.choice(COUNTRIES),
                annual_revenue=rng.choice([None, 0, 500_000, 5_000_000]),
                company_size=rng.choice(["", "1-10", "500+"]),
                custom={"seats": rng.choice([5, 80])} if i % 2 else {},
            )
            for i in range(count)
        ]
    )


def expected(now: dt.datetime) -> dict[int, tuple[int, int, int, str]]:
    """Per-lead computation through the engine, the reference for the set-based rescore."""
    rules = rules_compiled()
    thresholds = grade_thresholds(policy_get())
    leads = list(Lead.objects.all())
    ledger = awards_by_lead(lead_ids=[lead.pk for lead in leads])
    result = {}
    for lead in leads:
        score = engine.score(
            rules=rules, record=lead_record(lead), awards=ledger[lead.pk], now=now, thresholds=thresholds
        )
        result[lead.pk] = (score.fit, score.engagement, score.total, score.grade)
    return result


def actual() -> dict[int, tuple[int, int, int, str]]:
    return {
        pk: (fit, engagement, total, grade)
        for pk, fit, engagement, total, grade in Lead.objects.values_list(
            "pk", "fit_score", "engagement_score", "score", "grade"
        )
    }


def test_set_based_rescore_agrees_with_per_lead_scoring(make_rule: MakeRule) -> None:
    make_rule("CEO", CEO, 30)
    make_rule("Intern", INTERN, -10)
    make_rule("DACH", {"field": "country", "op": "in", "value": ["de", "AT"]}, 20)
    make_rule("Not US", {"not": {"field": "country", "op": "eq", "value": "US"}}, 5)
    make_rule("Revenue", {"field": "annual_revenue", "op": "between", "value": [100_000, 1_000_000]}, 10)
    make_rule("No size", {"field": "company_size", "op": "is_empty"}, -5)
    make_rule(
        "Exec or big",
        {
            "any": [
                {"field": "job_title", "op": "starts_with", "value": "chief"},
                {"field": "company_size", "op": "eq", "value": "500+"},
            ]
        },
        7,
    )
    engaged = make_rule("Demo", {"field": "event", "op": "eq", "value": "demo"}, 12, kind="engagement")
    leads = make_leads(120)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    ScorePoints.objects.bulk_create(
        [ScorePoints(lead=lead, rule=engaged, points=12, awarded_at=now) for lead in leads[:10]]
    )
    Lead.objects.filter(pk=leads[-1].pk).update(engagement_score=99, score=99)  # stale: no awards
    run = rescore_execute(run_id=RescoreRun.objects.create(reason="test").pk, now=now)
    assert (run.status, run.total, run.done, run.percent) == (RescoreStatus.DONE, 120, 120, 100)
    assert actual() == expected(now)
    assert {score[1] for score in actual().values()} == {0, 12}
    assert rescore_execute(run_id=run.pk, now=now).done == 120  # a finished run is left alone


def test_rules_on_custom_fields_rescore_in_python_with_the_same_result(make_rule: MakeRule) -> None:
    CustomField.objects.create(key="seats", label="Seats", field_type="number")
    make_rule("Seats", {"field": "custom.seats", "op": "gte", "value": 50}, 25)
    make_rule("CEO", CEO, 40)
    policy_update(changes={"grade_a": 60, "grade_b": 30, "grade_c": 10}, actor=None)
    make_leads(50)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    rescore_execute(run_id=RescoreRun.objects.create(reason="test").pk, now=now)
    assert actual() == expected(now)
    assert {score[3] for score in actual().values()} >= {"A", "B", "D"}


def test_decay_lowers_engagement_as_time_passes(make_rule: MakeRule) -> None:
    rule = make_rule(
        "Whitepaper",
        {"field": "event", "op": "eq", "value": "wp"},
        16,
        kind="engagement",
        decay="half_life",
        decay_days=7,
    )
    (lead,) = make_leads(1)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    ScorePoints.objects.create(lead=lead, rule=rule, points=16, awarded_at=start)
    assert decay_apply(now=start) == 1
    assert Lead.objects.get(pk=lead.pk).engagement_score == 16
    assert decay_apply(now=start) == 0  # idempotent
    decay_apply(now=start + dt.timedelta(days=14))
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score) == (4, lead.fit_score + 4)


def test_the_command_rescores_and_applies_decay(make_rule: MakeRule, capsys: object) -> None:
    make_rule("CEO", CEO, 30)
    make_leads(5)
    call_command("scoring", "rescore")
    call_command("scoring", "decay")
    assert actual() == expected(dt.datetime.now(dt.UTC))


def test_the_decay_task_runs_only_for_the_current_chain(
    make_rule: MakeRule, django_capture_on_commit_callbacks: Any
) -> None:
    rule = make_rule(
        "Wp",
        {"field": "event", "op": "eq", "value": "wp"},
        10,
        kind="engagement",
        decay="window",
        decay_days=1,
    )
    (lead,) = make_leads(1)
    ScorePoints.objects.create(
        lead=lead,
        rule=rule,
        points=10,
        awarded_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        expires_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
    )
    Lead.objects.filter(pk=lead.pk).update(engagement_score=10, score=10)
    with django_capture_on_commit_callbacks(execute=False):
        chain = decay_chain_start()
    decay.call("an-old-chain")
    assert Lead.objects.get(pk=lead.pk).engagement_score == 10
    decay.call(chain)
    assert Lead.objects.get(pk=lead.pk).engagement_score == 0


def test_scoring_a_batch_costs_the_same_queries_as_one_lead(
    make_rule: MakeRule, django_assert_num_queries: Any
) -> None:
    make_rule("CEO", CEO, 30)
    make_rule("Pricing", {"field": "path", "op": "eq", "value": "/pricing"}, 5, kind="engagement")
    leads = make_leads(60)
    policy_get()  # created on first use
    leads_score(leads=leads[:1])  # fills the configuration cache: rules, custom fields, policy
    with config_snapshot(), django_assert_num_queries(1):  # the ledger (the snapshot read the token)
        leads_score(leads=leads[:1])
    with config_snapshot(), django_assert_num_queries(1):
        outcomes = leads_score(leads=leads)
    assert len(outcomes) == 60


def test_a_rule_change_rescores_only_the_leads_it_can_touch(make_rule: MakeRule) -> None:
    ceo = make_rule("CEO", CEO, 30)
    make_rule("DACH", {"field": "country", "op": "in", "value": ["DE", "AT"]}, 20)
    make_leads(80)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    rescore_execute(run_id=RescoreRun.objects.create(reason="initial").pk, now=now)
    rule_update(rule=ceo, changes={"condition": INTERN, "points": 12}, actor=None)
    run = RescoreRun.objects.first()
    assert run is not None and run.scope == [CEO, INTERN]
    assert rescore_execute(run_id=run.pk, now=now).changed > 0
    assert actual() == expected(now)
    make_rule("Demo", {"field": "event", "op": "eq", "value": "demo"}, 5, kind="engagement")
    assert RescoreRun.objects.first().scope == []  # type: ignore[union-attr]
