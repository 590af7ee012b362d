"""The route step against the database: rules, team settings, availability, fallbacks, account matching."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from leadflow.access.models import Team, User
from leadflow.access.services import team_create, team_member_add
from leadflow.capture.services import lead_capture
from leadflow.leads.models import Activity, ActivityKind, Lead
from leadflow.leads.steps import StepOutcome
from leadflow.routing.models import RoundRobinState, RoutingRule
from leadflow.routing.services import (
    RoutingInputError,
    out_of_office_add,
    rep_schedule_set,
    routing_rule_create,
    routing_rule_move,
    routing_rule_update,
    routing_settings_update,
    team_holiday_add,
    team_routing_update,
)
from tests.routing.conftest import MONDAY_10_UTC, OFFICE_HOURS, Route


@pytest.fixture
def emea(make_user: Callable[..., User]) -> Team:
    team = team_create(name="EMEA")
    for name in ("anna", "ben"):
        team_member_add(team=team, user=make_user(name, first_name=name.title(), timezone="Europe/Berlin"))
    return team


def owner_names(outcomes: dict[int, StepOutcome]) -> list[str | None]:
    leads = Lead.objects.select_related("owner").in_bulk(list(outcomes))
    owners = [leads[pk].owner for pk in outcomes]
    return [owner.username if owner is not None else None for owner in owners]


def test_no_rules_keeps_todays_default_round_robin(sales_team: Team, route: Route) -> None:
    outcomes = route({"email": "a@x.example"}, {"email": "b@x.example"}, {"email": "c@x.example"}, {})
    assert owner_names(outcomes) == ["rep1", "rep2", "rep3", "rep1"]
    first = next(iter(outcomes.values()))
    assert first.summary == "Assigned to rep1 by round robin in the default team Sales."
    assert RoundRobinState.objects.get(team=sales_team).last_user.username == "rep1"  # type: ignore[union-attr]


def test_rule_sends_to_team_and_says_why(sales_team: Team, emea: Team, route: Route) -> None:
    routing_rule_create(
        name="DACH",
        condition={"field": "country", "op": "in", "value": ["DE", "AT"]},
        target="team",
        target_team_id=emea.pk,
    )
    rep_schedule_set(user=User.objects.get(username="anna"), hours={"sat": [["09:00", "10:00"]]})
    outcomes = route({"country": "DE"}, {"country": "FR"})
    de, fr = outcomes.values()
    assert owner_names(outcomes) == ["ben", "rep1"]
    assert de.summary == (
        "Rule 'DACH' (country is one of DE, AT) → team EMEA; round robin → Ben; "
        "skipped Anna (outside working hours)."
    )
    assert de.detail["skipped"] == [
        {"rep_id": User.objects.get(username="anna").pk, "name": "Anna", "reason": "outside working hours"}
    ]
    activity = Activity.objects.get(kind=ActivityKind.ASSIGNMENT, lead__country="DE")
    assert activity.summary == de.summary and activity.payload["method"] == "round robin"
    assert fr.summary.startswith("Assigned to rep1 by round robin")


def test_rules_match_source_and_score(sales_team: Team, emea: Team, make_user: Callable[..., User]) -> None:
    vip = make_user("vip")
    routing_rule_create(
        name="Partners",
        condition={"field": "source", "op": "eq", "value": "partner portal"},
        target="user",
        target_user_id=vip.pk,
    )
    routing_rule_create(
        name="Hot",
        condition={"field": "score", "op": "gte", "value": 0},
        target="team",
        target_team_id=emea.pk,
    )
    partner = lead_capture(payload={"email": "p@x.example", "source": "Partner Portal"}).lead
    other = lead_capture(payload={"email": "o@x.example"}).lead
    assert partner is not None and partner.owner == vip
    assert other is not None and other.team == emea


def test_rule_order_can_be_changed(sales_team: Team, emea: Team, route: Route) -> None:
    everyone: dict[str, list[Any]] = {"all": []}
    first = routing_rule_create(
        name="To Sales", condition=everyone, target="team", target_team_id=sales_team.pk
    )
    second = routing_rule_create(name="To EMEA", condition=everyone, target="team", target_team_id=emea.pk)
    assert owner_names(route({})) == ["rep1"]
    routing_rule_move(rule=second, offset=-1)  # the compiled rules are refreshed
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["To EMEA", "To Sales"]
    assert owner_names(route({})) == ["anna"]
    routing_rule_update(
        rule=second,
        name="To EMEA",
        condition=everyone,
        target="team",
        target_team_id=emea.pk,
        is_active=False,
    )
    assert first.pk and owner_names(route({})) == ["rep2"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"condition": {"field": "shoe_size", "op": "eq", "value": 4}}, "condition"),
        ({"condition": {"field": "country", "op": "gt", "value": 4}}, "condition"),
        ({"target": "user", "target_user_id": 999999}, "target_user"),
        ({"target": "team", "target_team_id": 999999}, "target_team"),
        ({"target": "team"}, "target_team"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_rules_are_rejected_when_saved(db: None, fields: dict[str, Any], problem: str) -> None:
    args = {"name": "R", "condition": {"all": []}, "target": "pool", **fields}
    with pytest.raises(RoutingInputError) as caught:
        routing_rule_create(**args)
    assert problem in caught.value.errors
    assert not RoutingRule.objects.exists()


def test_inactive_target_user_is_rejected(make_user: Callable[..., User]) -> None:
    gone = make_user("gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(RoutingInputError) as caught:
        routing_rule_create(name="R", condition={"all": []}, target="user", target_user_id=gone.pk)
    assert "not active" in caught.value.errors["target_user"]


def test_weighted_and_load_methods(emea: Team, route: Route) -> None:
    anna, ben = User.objects.get(username="anna"), User.objects.get(username="ben")
    emea.memberships.filter(user=anna).update(weight=3)
    routing_rule_create(name="All", condition={"all": []}, target="team", target_team_id=emea.pk)
    team_routing_update(team=emea, method="weighted")
    picks = owner_names(route(*[{} for _ in range(4)]))
    assert picks.count("anna") == 3 and picks.count("ben") == 1
    picks = owner_names(route(*[{} for _ in range(4)]))  # the credits carry over to the next batch
    assert picks.count("anna") == 3 and picks.count("ben") == 1

    team_routing_update(team=emea, method="load")
    Lead.objects.filter(owner=ben).update(first_response_at=MONDAY_10_UTC)  # contacted: not open any more
    assert owner_names(route({}, {})) == ["ben", "ben"]


def test_caps_per_day_and_open(emea: Team, route: Route) -> None:
    routing_rule_create(name="All", condition={"all": []}, target="team", target_team_id=emea.pk)
    team_routing_update(team=emea, method="round_robin", daily_cap=2)
    outcomes = route(*[{} for _ in range(5)])
    assert owner_names(outcomes) == ["anna", "ben", "anna", "ben", None]
    last = list(outcomes.values())[-1]
    assert "daily cap of 2 reached" in last.summary and "unassigned pool" in last.summary
    tomorrow = MONDAY_10_UTC + dt.timedelta(days=1)
    assert owner_names(route({}, now=tomorrow)) == ["anna"]

    team_routing_update(team=emea, method="round_robin", open_cap=3)
    assert owner_names(route({}, {}, now=tomorrow + dt.timedelta(days=1))) == ["ben", None]


def test_out_of_office_and_holiday(emea: Team, route: Route) -> None:
    anna, ben = User.objects.get(username="anna"), User.objects.get(username="ben")
    routing_rule_create(name="All", condition={"all": []}, target="team", target_team_id=emea.pk)
    out_of_office_add(user=anna, starts_on=dt.date(2026, 11, 23), ends_on=dt.date(2026, 11, 24))
    outcome = next(iter(route({}).values()))
    assert outcome.detail["owner_id"] == ben.pk
    assert "Anna (out of office until 2026-11-24)" in outcome.summary
    team_holiday_add(team=emea, date=dt.date(2026, 11, 23), name="Staff day")
    outcome = next(iter(route({}).values()))
    assert outcome.detail["owner_id"] is None and "Ben (team holiday)" in outcome.summary


def test_working_hours_use_the_reps_timezone(emea: Team, route: Route) -> None:
    routing_rule_create(name="All", condition={"all": []}, target="team", target_team_id=emea.pk)
    ben = User.objects.get(username="ben")
    ben.timezone = "America/New_York"
    ben.save()
    for rep in emea.members.all():
        rep_schedule_set(user=rep, hours=OFFICE_HOURS)
    assert owner_names(route({}, {})) == ["anna", "anna"]  # 11:00 in Berlin, 05:00 in New York
    evening = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)  # 19:00 Berlin, 13:00 New York
    assert owner_names(route({}, now=evening)) == ["ben"]


def test_empty_team_never_loses_a_lead_and_logs_the_fallback(
    emea: Team, make_user: Callable[..., User], route: Route
) -> None:
    empty = team_create(name="Nobody", manager=make_user("boss", role="manager"))
    routing_rule_create(name="All", condition={"all": []}, target="team", target_team_id=empty.pk)

    team_routing_update(team=empty, method="round_robin", fallback="team", fallback_team_id=emea.pk)
    outcome = next(iter(route({}).values()))
    assert outcome.detail["owner_id"] == User.objects.get(username="anna").pk
    assert outcome.detail["fallbacks"] == ["no member available in Nobody; fell back to EMEA"]

    team_routing_update(team=empty, method="round_robin", fallback="manager")
    outcome = next(iter(route({}).values()))
    assert outcome.detail["owner_id"] == User.objects.get(username="boss").pk

    team_routing_update(team=empty, method="round_robin", fallback="pool")
    outcome = next(iter(route({}).values()))
    lead = Lead.objects.latest("id")
    assert lead.owner is None and lead.team == empty
    logged = Activity.objects.get(lead=lead, kind=ActivityKind.ASSIGNMENT)
    assert "left in its unassigned pool" in logged.summary and logged.payload["fallbacks"]


def test_fallback_settings_are_validated(emea: Team) -> None:
    with pytest.raises(RoutingInputError) as caught:
        team_routing_update(team=emea, method="round_robin", fallback="team", fallback_team_id=emea.pk)
    assert "fallback_team" in caught.value.errors
    with pytest.raises(RoutingInputError) as caught:
        team_routing_update(team=emea, method="random", fallback="manager")
    assert set(caught.value.errors) == {"method", "fallback"}
    with pytest.raises(RoutingInputError):
        rep_schedule_set(user=User.objects.get(username="anna"), hours={"mon": [["18:00", "09:00"]]})


def test_account_matching_gives_the_lead_to_the_domain_owner(sales_team: Team, route: Route) -> None:
    rep3 = User.objects.get(username="rep3")
    Lead.objects.create(company_domain="acme.example", owner=rep3)
    Lead.objects.create(company_domain="gmail.com", owner=rep3)
    assert owner_names(route({"company_domain": "acme.example"})) == ["rep1"]  # off by default

    routing_settings_update(account_matching=True)
    outcomes = route({"company_domain": "acme.example"}, {"company_domain": "gmail.com"})
    assert owner_names(outcomes) == ["rep3", "rep2"]
    assert next(iter(outcomes.values())).summary == "Account match: rep3 owns acme.example → rep3."
