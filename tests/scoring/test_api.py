"""The scoring API: rule CRUD with 422 per field, the policy, a lead's score with row-level access."""

from collections.abc import Callable
from typing import Any

from leadflow.access.models import Team, User
from leadflow.capture.services import lead_capture
from leadflow.leads.models import Lead, Stage
from leadflow.routing.services import lead_assign
from leadflow.scoring.models import ScoringRule
from tests.conftest import ApiClient
from tests.scoring.conftest import CEO

RULE = {"name": "CEO", "kind": "fit", "condition": CEO, "points": 30}


def test_rule_crud_needs_the_admin_scope(api: ApiClient, api_with_scopes: Callable[..., ApiClient]) -> None:
    reader = api_with_scopes("read")
    assert reader.post("/scoring/rules", RULE).status_code == 403
    created = api.post("/scoring/rules", RULE)
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert [r["name"] for r in reader.get("/scoring/rules").json()] == ["CEO"]
    changed = api.patch(f"/scoring/rules/{rule_id}", {"points": -5})
    assert changed.json()["points"] == -5
    assert reader.request("delete", f"/scoring/rules/{rule_id}").status_code == 403
    assert api.request("delete", f"/scoring/rules/{rule_id}").status_code == 204
    assert not ScoringRule.objects.exists()


def test_bad_rules_get_422_per_field(api: ApiClient) -> None:
    bad = {
        **RULE,
        "points": 0,
        "condition": {
            "all": [{"field": "shoe_size", "op": "eq", "value": 9}, {"field": "country", "op": "zz"}]
        },
    }
    response = api.post("/scoring/rules", bad)
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors[("body", "condition", "all[0]", "field")] == "unknown field 'shoe_size'"
    assert errors[("body", "condition", "all[1]", "op")].startswith("unknown operator 'zz'")
    assert "0 points" in errors[("body", "points")]
    rule_id = api.post("/scoring/rules", RULE).json()["id"]
    patched = api.patch(f"/scoring/rules/{rule_id}", {"condition": {"field": "nope", "op": "is_empty"}})
    assert patched.status_code == 422
    assert ScoringRule.objects.get().condition == CEO


def test_the_policy_reads_as_sentences_and_validates(api: ApiClient) -> None:
    response = api.patch("/scoring/policy", {"qualification_enabled": True, "mql_score": 40})
    assert response.status_code == 200
    assert "A lead becomes an MQL when its total score reaches 40" in " ".join(response.json()["definition"])
    response = api.patch("/scoring/policy", {"grade_a": 10, "grade_b": 50})
    assert response.status_code == 422


def _lead(owner: User, email: str) -> Lead:
    lead = lead_capture(payload={"email": email}).lead
    assert lead is not None
    return lead_assign(lead=lead, owner=owner, actor=None, reason="test")


def test_lead_score_and_review_respect_row_level_access(
    sales_team: Team, api_with_scopes: Callable[..., ApiClient], api: ApiClient
) -> None:
    api.post(
        "/scoring/rules", {**RULE, "condition": {"field": "email", "op": "ends_with", "value": "example.com"}}
    )
    rep1, rep2 = User.objects.get(username="rep1"), User.objects.get(username="rep2")
    lead = _lead(rep1, "a@example.com")
    mine, theirs = api_with_scopes("read", "write", user=rep1), api_with_scopes("read", "write", user=rep2)
    body: Any = mine.get(f"/scoring/leads/{lead.pk}").json()
    assert (body["score"], body["fit"][0]["rule"]) == (30, "CEO")
    assert theirs.get(f"/scoring/leads/{lead.pk}").status_code == 404
    assert theirs.post(f"/scoring/leads/{lead.pk}/accept", {}).status_code == 404
    assert mine.post(f"/scoring/leads/{lead.pk}/accept", {}).status_code == 422  # not an MQL
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.MQL)
    assert mine.post(f"/scoring/leads/{lead.pk}/reject", {"reason": ""}).status_code == 422
    rejected = mine.post(f"/scoring/leads/{lead.pk}/reject", {"reason": "Competitor"})
    assert rejected.json()["stage"] == Stage.RECYCLED
