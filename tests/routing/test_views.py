"""Routing screens: admins and managers only; rules as JSON, the simulator, team and rep settings."""

import json
from collections.abc import Callable

import pytest
from django.test import Client

from leadflow.access.models import User
from leadflow.leads.models import Activity
from leadflow.routing.models import OutOfOffice, RepSchedule, RoutingRule, TeamHoliday, TeamRouting
from leadflow.routing.services import routing_rule_create
from tests.web.conftest import Org

Login = Callable[[User], Client]
DACH = {"field": "country", "op": "in", "value": ["DE", "AT"]}


@pytest.mark.parametrize("who", ["ann", "marketing"])
def test_others_get_404(org: Org, login: Login, who: str) -> None:
    client = login(getattr(org, who))
    for url in (
        "/routing/",
        "/routing/rules/new/",
        "/routing/simulate/",
        f"/routing/teams/{org.east.pk}/",
        f"/routing/reps/{org.ann.pk}/",
    ):
        assert client.get(url).status_code == 404, url


def test_admin_creates_edits_and_orders_rules(org: Org, login: Login) -> None:
    client = login(org.admin)
    response = client.post(
        "/routing/rules/new/",
        {
            "name": "DACH",
            "condition": json.dumps(DACH),
            "target": "team",
            "target_team": org.west.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    client.post("/routing/rules/new/", {"name": "All", "condition": '{"all": []}', "target": "pool"})
    rule = RoutingRule.objects.get(name="All")
    client.post(f"/routing/rules/{rule.pk}/move/", {"up": "1"})
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["All", "DACH"]
    page = client.get("/routing/").content.decode()
    assert page.index("All") < page.index("DACH")
    edit = client.get(f"/routing/rules/{rule.pk}/")
    assert edit.status_code == 200 and "Fields a rule can test" in edit.content.decode()
    client.post(f"/routing/rules/{rule.pk}/delete/")
    assert not RoutingRule.objects.filter(name="All").exists()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"condition": "{not json"}, "Not valid JSON"),
        (
            {"condition": '{"field": "shoe_size", "op": "eq", "value": 1}'},
            "unknown field &#x27;shoe_size&#x27;",
        ),
        ({"target": "team", "target_team": ""}, "Choose the team that gets the leads."),
    ],
)
def test_bad_rules_are_shown_with_their_field(
    org: Org, login: Login, form: dict[str, str], message: str
) -> None:
    data = {"name": "Bad", "condition": '{"all": []}', "target": "pool", **form}
    response = login(org.admin).post("/routing/rules/new/", data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_simulator_explains_and_assigns_nothing(org: Org, login: Login) -> None:
    routing_rule_create(name="DACH", condition=DACH, target="team", target_team_id=org.west.pk)
    client = login(org.manager)
    before = Activity.objects.count()
    page = client.get("/routing/simulate/", {"values": '{"country": "AT"}'}).content.decode()
    assert "Rule &#x27;DACH&#x27; (country is one of DE, AT) → team West; round robin → Cal." in page
    assert "country is one of DE, AT ✓ (AT)" in page
    assert Activity.objects.count() == before

    mine = client.get("/routing/simulate/", {"lead_id": org.ann_lead.pk}).content.decode()
    assert "round robin" in mine
    hidden = client.get("/routing/simulate/", {"lead_id": org.cal_lead.pk}).content.decode()
    assert "No lead with this id in your reach." in hidden


def test_team_settings_holidays_and_rep_availability(org: Org, login: Login) -> None:
    client = login(org.manager)
    response = client.post(
        f"/routing/teams/{org.east.pk}/", {"method": "load", "daily_cap": "5", "fallback": "manager"}
    )
    assert response.status_code == 302
    assert TeamRouting.objects.get(team=org.east).method == "load"
    bad = client.post(f"/routing/teams/{org.east.pk}/", {"method": "load", "fallback": "team"})
    assert "Choose an existing team" in bad.content.decode()
    assert client.get(f"/routing/teams/{org.west.pk}/").status_code == 404, "not their team"

    client.post(f"/routing/teams/{org.east.pk}/holidays/", {"date": "2026-12-25", "name": "Christmas"})
    assert TeamHoliday.objects.get(team=org.east).name == "Christmas"

    client.post(f"/routing/reps/{org.ann.pk}/", {"hours": '{"mon": [["09:00", "17:00"]]}'})
    assert RepSchedule.objects.get(user=org.ann).hours == {"mon": [["09:00", "17:00"]]}
    wrong = client.post(f"/routing/reps/{org.ann.pk}/", {"hours": '{"mon": [["17:00", "09:00"]]}'})
    assert "ends before it starts" in wrong.content.decode()
    client.post(f"/routing/reps/{org.ann.pk}/", {"starts_on": "2026-12-01", "ends_on": "2026-12-03"})
    assert OutOfOffice.objects.filter(user=org.ann).count() == 1
    assert client.get(f"/routing/reps/{org.cal.pk}/").status_code == 404, "not in their teams"
    assert client.get(f"/routing/teams/{org.east.pk}/").status_code == 200
