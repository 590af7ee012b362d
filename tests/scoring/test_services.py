"""Rules as data, the intake score and qualify steps, activity points, MQL review."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.capture.services import lead_capture, lead_update
from leadflow.leads.models import Activity, ActivityKind, CustomField, Lead, Stage, StageTransition
from leadflow.scoring.models import RescoreRun, ScorePoints, ScoringRule
from leadflow.scoring.selectors import lead_score_explanation, policy_get
from leadflow.scoring.services import (
    ScoringError,
    leads_qualify,
    leads_score,
    mql_accept,
    mql_reject,
    policy_sentences,
    policy_update,
    rule_clean,
    rule_update,
)
from leadflow.tracking.services import event_record
from tests.scoring.conftest import CEO, INTERN, PRICING, WHITEPAPER

MakeRule = Callable[..., ScoringRule]


def capture(**fields: str) -> Lead:
    lead = lead_capture(payload={"email": "pat@example.com", "first_name": "Pat", **fields}).lead
    assert lead is not None
    return lead


def test_without_rules_the_score_step_says_so(sales_team: Team) -> None:
    lead = capture(job_title="CEO")
    outcome = leads_score(leads=[lead])[lead.pk]
    assert outcome.summary == "Score 0: no scoring rules are defined."
    assert (lead.score, lead.grade) == (0, "")
    assert (
        leads_qualify(leads=[lead])[lead.pk].summary
        == "Stage stays lead: no qualification rules are defined."
    )


def test_fit_rules_score_at_intake_and_explain_themselves(sales_team: Team, make_rule: MakeRule) -> None:
    make_rule("CEO", CEO, 30)
    make_rule("Intern", INTERN, -10)
    make_rule("Germany", {"field": "country", "op": "eq", "value": "DE"}, 15)
    lead = capture(job_title="CEO and intern mentor", country="DE")
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.score, lead.grade) == (35, 0, 35, "C")
    submission = lead.submissions.get()
    step = next(entry for entry in submission.trace if entry["step"] == "score")
    assert step["summary"] == "Score 35 (fit 35, engagement 0): CEO +30, Intern -10, Germany +15."
    assert step["detail"]["rules"] == [
        {"name": "CEO", "points": 30, "kind": "fit"},
        {"name": "Intern", "points": -10, "kind": "fit"},
        {"name": "Germany", "points": 15, "kind": "fit"},
    ]
    history = Activity.objects.get(lead=lead, kind=ActivityKind.SCORE_CHANGE)
    assert history.payload["from"] == 0 and history.payload["to"] == 35


def test_a_persons_edit_rescores(sales_team: Team, make_rule: MakeRule) -> None:
    make_rule("CEO", CEO, 30)
    lead = capture(job_title="Engineer")
    lead = lead_update(lead=Lead.objects.get(pk=lead.pk), changes={"job_title": "CEO"}, actor=None)
    assert Lead.objects.get(pk=lead.pk).score == 30


@pytest.mark.parametrize(
    ("condition", "kind", "message_key", "message"),
    [
        (
            {"field": "shoe_size", "op": "eq", "value": "9"},
            "fit",
            "condition.field",
            "unknown field 'shoe_size'",
        ),
        (
            {"field": "job_title", "op": "gt", "value": 3},
            "fit",
            "condition.op",
            "gt does not apply to job_title",
        ),
        (
            {"all": [{"field": "annual_revenue", "op": "gte", "value": "lots"}]},
            "fit",
            "condition.all[0].value",
            "not a number",
        ),
        (
            {"field": "job_title", "op": "eq", "value": "CEO"},
            "engagement",
            "condition.field",
            "unknown field 'job_title'",
        ),
    ],
)
def test_unknown_fields_and_invalid_conditions_are_rejected(
    db: None, condition: dict, kind: str, message_key: str, message: str
) -> None:
    with pytest.raises(ScoringError) as caught:
        rule_clean({"name": "Bad", "kind": kind, "condition": condition, "points": 5})
    assert message in caught.value.errors[message_key]
    assert not ScoringRule.objects.exists()


def test_custom_fields_and_event_properties_are_in_the_catalogue(db: None) -> None:
    CustomField.objects.create(key="seats", label="Seats", field_type="number")
    rule_clean(
        {
            "name": "Big",
            "kind": "fit",
            "condition": {"field": "custom.seats", "op": "gte", "value": 50},
            "points": 5,
        }
    )
    rule_clean(
        {
            "name": "Plan",
            "kind": "engagement",
            "condition": {"field": "properties.plan", "op": "eq", "value": "pro"},
            "points": 5,
        }
    )
    with pytest.raises(ScoringError) as caught:
        rule_clean({"name": "Fit", "kind": "fit", "condition": CEO, "points": 5, "cap": 10})
    assert "engagement rules" in caught.value.errors["kind"]


def test_rule_changes_start_a_rescore(make_rule: MakeRule) -> None:
    rule = make_rule("CEO", CEO, 30)
    rule_update(rule=rule, changes={"points": 40}, actor=None)
    assert list(RescoreRun.objects.values_list("reason", flat=True)) == [
        "Rule “CEO” changed",
        "Rule “CEO” added",
    ]


def test_events_award_engagement_once_or_each_time_within_the_cap(
    sales_team: Team, make_rule: MakeRule
) -> None:
    make_rule("Pricing page", PRICING, 10, kind="engagement", repeatable=True, cap=25)
    make_rule("Whitepaper", WHITEPAPER, 15, kind="engagement")
    make_rule("CEO", CEO, 30)
    lead = capture(job_title="CEO")
    for _ in range(4):
        event_record(lead=lead, name="page_view", properties={"url": "https://acme.test/pricing?x=1"})
    event_record(lead=lead, name="whitepaper_download", properties={})
    for name, properties, day in [
        ("whitepaper_download", {}, 2),  # matches a rule but earns nothing (not repeatable)
        ("page_view", {"url": "https://acme.test/blog"}, 3),  # matches no rule
    ]:
        at = timezone.now() + dt.timedelta(days=day)
        event_record(lead=lead, name=name, properties=properties, occurred_at=at)
        lead.refresh_from_db()
        assert lead.last_activity_at == at  # saved even when the score does not change
    assert (lead.fit_score, lead.engagement_score, lead.score) == (30, 40, 70)
    assert sorted(ScorePoints.objects.values_list("points", flat=True)) == [5, 10, 10, 15]
    earned_by = Activity.objects.in_bulk(ScorePoints.objects.values_list("activity_id", flat=True))
    assert len(earned_by) == 4 and {a.kind for a in earned_by.values()} == {"page_view", "event"}
    changes = Activity.objects.filter(lead=lead, kind=ActivityKind.SCORE_CHANGE).order_by("id")
    assert changes.last().summary == "Score 55 → 70 (Whitepaper +15)"  # type: ignore[union-attr]


def test_the_lead_page_explanation_lists_points_with_their_expiry(
    sales_team: Team, make_rule: MakeRule
) -> None:
    make_rule("Pricing page", PRICING, 10, kind="engagement", decay="window", decay_days=30)
    make_rule("CEO", CEO, 30)
    lead = capture(job_title="CEO")
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    event_record(lead=lead, name="page_view", properties={"path": "/pricing"}, occurred_at=at)
    explanation = lead_score_explanation(lead=lead, now=at + dt.timedelta(days=1))
    assert [(line.rule, line.points) for line in explanation.fit] == [("CEO", 30)]
    (line,) = explanation.ledger
    assert (line.rule, line.points, line.worth) == ("Pricing page", 10, 10)
    assert line.expires_at == at + dt.timedelta(days=30)
    assert lead_score_explanation(lead=lead, now=at + dt.timedelta(days=31)).ledger[0].expired


def test_qualification_moves_stages_forward_only(sales_team: Team, make_rule: MakeRule) -> None:
    make_rule("CEO", CEO, 60)
    policy_update(changes={"qualification_enabled": True, "mql_score": 50}, actor=None)
    lead = capture(job_title="CEO")
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL and lead.qualified_at is not None
    transition = StageTransition.objects.get(lead=lead)
    assert transition.reason == "MQL: score 60 reached 50 and the email is valid"
    lead.stage = Stage.OPPORTUNITY
    outcome = leads_qualify(leads=[lead])[lead.pk]
    assert lead.stage == Stage.OPPORTUNITY and not outcome.transitions
    assert outcome.summary == "Stage stays opportunity: already opportunity."
    lead.stage = Stage.RECYCLED
    assert leads_qualify(leads=[lead])[lead.pk].summary.startswith("Stage stays recycled")


def test_mql_needs_a_valid_email(sales_team: Team, make_rule: MakeRule) -> None:
    make_rule("CEO", CEO, 60)
    policy_update(changes={"qualification_enabled": True, "mql_score": 50}, actor=None)
    lead = lead_capture(payload={"phone": "+49 30 1234567", "job_title": "CEO"}).lead
    assert lead is not None
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD


def test_bant_criteria_make_an_sql(sales_team: Team) -> None:
    bant = {
        "all": [
            {"field": "budget", "op": "is_not_empty"},
            {"field": "job_title", "op": "contains", "value": "director"},
            {"field": "product_interest", "op": "is_not_empty"},
            {"field": "purchase_timeframe", "op": "in", "value": ["now", "this quarter"]},
        ]
    }
    policy_update(changes={"qualification_enabled": True, "sql_condition": bant}, actor=None)
    lead = capture(budget="50k", job_title="IT Director", product_interest="CRM", purchase_timeframe="now")
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert StageTransition.objects.get(lead=lead).reason.startswith("SQL: BANT criteria met")
    with pytest.raises(ScoringError) as caught:
        policy_update(changes={"sql_condition": {"field": "nope", "op": "is_empty"}}, actor=None)
    assert "unknown field" in caught.value.errors["sql_condition.field"]


def test_product_usage_makes_a_pql(sales_team: Team) -> None:
    policy_update(
        changes={"qualification_enabled": True, "pql_events": ["app_login"], "pql_threshold": 3}, actor=None
    )
    lead = capture()
    for _ in range(2):
        event_record(lead=lead, name="app_login", properties={})
    logged_in = Activity.objects.filter(lead=lead).latest("occurred_at").occurred_at
    assert Lead.objects.get(pk=lead.pk).last_activity_at == logged_in
    event_record(lead=lead, name="page_view", properties={"path": "/docs"})
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    event_record(lead=lead, name="app_login", properties={})
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert "PQL: 3 product-usage events reached 3" in StageTransition.objects.get(lead=lead).reason
    assert any("PQL" in line for line in policy_sentences(policy_get()))


def test_sales_accept_or_reject_each_mql(sales_team: Team, make_user: Callable[..., User]) -> None:
    rep = User.objects.get(username="rep1")
    lead = capture()
    with pytest.raises(ScoringError):
        mql_accept(lead=lead, actor=rep)
    lead.stage = Stage.MQL
    lead.save()
    with pytest.raises(ScoringError) as caught:
        mql_reject(lead=lead, actor=rep, reason=" ")
    assert "reason" in caught.value.errors
    transition = mql_reject(lead=lead, actor=rep, reason="Student, no budget")
    assert (lead.stage, transition.reason) == (Stage.RECYCLED, "Rejected by rep1: Student, no budget")
    other = capture(email="lee@example.com")
    other.stage = Stage.MQL
    other.save()
    assert mql_accept(lead=other, actor=rep, reason="Good fit").to_value == Stage.SQL


def test_default_policy_keeps_stages_as_they_are(db: None) -> None:
    policy = policy_get()
    assert not policy.qualification_enabled
    assert "Automatic qualification is off" in policy_sentences(policy)[1]
