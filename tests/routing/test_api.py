"""The routing API: rules with 422 on bad input, team settings, and the simulator with row-level access."""

from collections.abc import Callable

from leadflow.access.models import Team, User
from leadflow.leads.models import Activity, Lead
from leadflow.routing.models import RoutingRule
from tests.conftest import ApiClient

DACH = {"field": "country", "op": "in", "value": ["DE", "AT"]}


def test_rule_crud_and_order(api: ApiClient, sales_team: Team) -> None:
    created = api.post("/routing/rules", {"name": "DACH", "condition": DACH, "target_team_id": sales_team.pk})
    assert created.status_code == 201, created.json()
    second = api.post("/routing/rules", {"name": "Junk", "condition": {"all": []}, "target": "pool"}).json()
    moved = api.post(f"/routing/rules/{second['id']}/move", {"offset": -1})
    assert [rule["name"] for rule in moved.json()] == ["Junk", "DACH"]
    changed = api.request(
        "put",
        f"/routing/rules/{second['id']}",
        {"name": "Junk", "condition": {"all": []}, "target": "pool", "is_active": False},
    )
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    assert api.request("delete", f"/routing/rules/{second['id']}").status_code == 204
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["DACH"]


def test_bad_rules_get_422_with_per_field_messages(api: ApiClient, sales_team: Team) -> None:
    response = api.post(
        "/routing/rules",
        {
            "name": "Bad",
            "condition": {"field": "shoe_size", "op": "eq", "value": 1},
            "target": "user",
            "target_user_id": 987654,
        },
    )
    assert response.status_code == 422
    problems = {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}
    assert "unknown field 'shoe_size'" in problems[("body", "condition")]
    assert "No user with id 987654" in problems[("body", "target_user")]
    assert not RoutingRule.objects.exists()


def test_rules_need_the_admin_scope(api_with_scopes: Callable[..., ApiClient], sales_team: Team) -> None:
    reader = api_with_scopes("read", "write")
    assert reader.get("/routing/rules").status_code == 403
    assert (
        reader.post("/routing/rules", {"name": "X", "condition": {"all": []}, "target": "pool"}).status_code
        == 403
    )


def test_team_settings(api: ApiClient, sales_team: Team) -> None:
    response = api.request("put", f"/routing/teams/{sales_team.pk}", {"method": "weighted", "daily_cap": 10})
    assert response.status_code == 200 and response.json()["method"] == "weighted"
    bad = api.request("put", f"/routing/teams/{sales_team.pk}", {"method": "load", "fallback": "team"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "fallback_team"]


def test_simulator_with_typed_fields_assigns_nothing(
    api: ApiClient, sales_team: Team, make_user: Callable[..., User]
) -> None:
    emea = Team.objects.create(name="EMEA")
    anna = make_user("anna", team=emea, first_name="Anna")
    api.post("/routing/rules", {"name": "DACH", "condition": DACH, "target_team_id": emea.pk})
    first = api.post("/routing/simulate", {"fields": {"country": "de"}}).json()
    again = api.post("/routing/simulate", {"fields": {"country": "de"}}).json()
    assert first == again, "a dry run takes no turn"
    assert first["owner_id"] == anna.pk and first["team_id"] == emea.pk
    assert first["rule_lines"] == ["country is one of DE, AT ✓ (de)"]
    assert first["summary"] == "Rule 'DACH' (country is one of DE, AT) → team EMEA; round robin → Anna."
    other = api.post("/routing/simulate", {"fields": {"country": "FR"}}).json()
    assert other["rule_id"] is None and other["summary"].startswith("Assigned to rep1 by round robin")
    assert not Lead.objects.exists() and not Activity.objects.exists()

    unknown = api.post("/routing/simulate", {"fields": {"shoe_size": 4}})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == [
        "body",
        "fields",
        "shoe_size",
    ]
    assert api.post("/routing/simulate", {}).status_code == 422


def test_simulator_by_lead_id_respects_row_level_access(
    sales_team: Team, make_user: Callable[..., User], api_with_scopes: Callable[..., ApiClient]
) -> None:
    west = Team.objects.create(name="West")
    rep1 = User.objects.get(username="rep1")
    outsider = make_user("cal", team=west)
    mine = Lead.objects.create(email="mine@x.example", owner=rep1, team=sales_team)
    theirs = Lead.objects.create(email="theirs@x.example", owner=outsider, team=west)
    as_rep1 = api_with_scopes("read", user=rep1)

    response = as_rep1.post("/routing/simulate", {"lead_id": mine.pk})
    assert response.status_code == 200
    assert response.json()["team_id"] == sales_team.pk and response.json()["owner_id"] == rep1.pk
    assert as_rep1.post("/routing/simulate", {"lead_id": theirs.pk}).status_code == 404
    assert as_rep1.post("/routing/simulate", {"lead_id": 99999999}).status_code == 404
    assert api_with_scopes("read").post("/routing/simulate", {"lead_id": theirs.pk}).status_code == 200
    mine.refresh_from_db()
    assert mine.owner == rep1 and not Activity.objects.exists()
