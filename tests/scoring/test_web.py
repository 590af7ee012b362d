"""Scoring screens: editing for admins and marketing only, per-path condition errors, the lead breakdown
with row-level access, MQL accept/reject from the lead page, rescore progress."""

import json
from collections.abc import Callable

from django.test import Client

from leadflow.access.models import User
from leadflow.leads.models import Lead, Stage
from leadflow.scoring.models import RescoreRun, ScoringRule
from leadflow.scoring.services import rule_create
from leadflow.tracking.services import event_record
from tests.scoring.conftest import CEO
from tests.web.conftest import Org

Login = Callable[[User], Client]
FORM = {
    "name": "CEO",
    "kind": "fit",
    "condition": json.dumps(CEO),
    "points": "30",
    "decay": "none",
    "active": "on",
    "order": "0",
}


def test_only_admins_and_marketing_edit_rules(org: Org, login: Login) -> None:
    rep = login(org.ann)
    assert rep.get("/scoring/").status_code == 200
    assert rep.get("/scoring/rules/new/").status_code == 404
    assert rep.post("/scoring/rules/new/", FORM).status_code == 404
    assert rep.get("/scoring/policy/").status_code == 404
    marketing = login(org.marketing)
    response = marketing.post("/scoring/rules/new/", FORM)
    assert response.status_code == 302
    rule = ScoringRule.objects.get()
    page = marketing.get("/scoring/").content.decode()
    assert "job_title contains ceo" in page and "Rescore: Queued" in page
    assert marketing.post(f"/scoring/rules/{rule.pk}/delete/").status_code == 302
    assert not ScoringRule.objects.exists()


def test_bad_conditions_are_shown_per_path_in_the_form(org: Org, login: Login) -> None:
    admin = login(org.admin)
    bad = {**FORM, "condition": json.dumps({"any": [{"field": "shoe_size", "op": "eq", "value": 1}]})}
    page = admin.post("/scoring/rules/new/", bad).content.decode()
    assert "condition.any[0].field: unknown field &#x27;shoe_size&#x27;" in page
    page = admin.post("/scoring/rules/new/", {**FORM, "condition": "{nope"}).content.decode()
    assert "This is not valid JSON" in page
    assert not ScoringRule.objects.exists()


def test_the_policy_page_shows_the_written_definition(org: Org, login: Login) -> None:
    admin = login(org.admin)
    data = {
        "grade_a": "60",
        "grade_b": "40",
        "grade_c": "20",
        "qualification_enabled": "on",
        "mql_score": "45",
        "mql_requires_email": "on",
        "sql_condition": "",
        "pql_events": "app_login, project_created",
        "pql_threshold": "5",
    }
    assert admin.post("/scoring/policy/", data).status_code == 302
    page = admin.get("/scoring/").content.decode()
    assert "A lead becomes an MQL when its total score reaches 45 and the email address is valid." in page
    assert "after 5 product-usage events (app_login, project_created)" in page
    bad = admin.post("/scoring/policy/", {**data, "sql_condition": '{"field": "x", "op": "is_empty"}'})
    assert "sql_condition.field: unknown field" in bad.content.decode()


def test_the_lead_breakdown_lists_points_and_respects_access(org: Org, login: Login) -> None:
    rule_create(
        values={
            "name": "Pricing",
            "kind": "engagement",
            "condition": {"field": "path", "op": "eq", "value": "/pricing"},
            "points": 10,
            "decay": "window",
            "decay_days": 30,
        },
        actor=None,
    )
    event_record(lead=org.ann_lead, name="page_view", properties={"path": "/pricing"})
    page = login(org.ann).get(f"/leads/{org.ann_lead.pk}/score/").content.decode()
    assert "Pricing" in page and "+10" in page and "Expires" in page
    assert login(org.bob).get(f"/leads/{org.ann_lead.pk}/score/").status_code == 404
    detail = login(org.ann).get(f"/leads/{org.ann_lead.pk}/").content.decode()
    assert f"/leads/{org.ann_lead.pk}/score/" in detail


def test_reps_accept_or_reject_mqls_from_the_lead_page(org: Org, login: Login) -> None:
    Lead.objects.filter(pk__in=[org.ann_lead.pk, org.bob_lead.pk]).update(stage=Stage.MQL)
    ann = login(org.ann)
    assert "Accept as SQL" in ann.get(f"/leads/{org.ann_lead.pk}/score/").content.decode()
    assert ann.post(f"/leads/{org.bob_lead.pk}/score/accept/").status_code == 404
    missing = ann.post(
        f"/leads/{org.ann_lead.pk}/score/reject/", {"reason": ""}, headers={"HX-Request": "true"}
    )
    assert "Say why the lead is rejected" in missing.content.decode()
    done = ann.post(f"/leads/{org.ann_lead.pk}/score/reject/", {"reason": "No budget"})
    assert done.status_code == 302
    assert Lead.objects.get(pk=org.ann_lead.pk).stage == Stage.RECYCLED
    login(org.bob).post(f"/leads/{org.bob_lead.pk}/score/accept/", {"reason": "Call booked"})
    assert Lead.objects.get(pk=org.bob_lead.pk).stage == Stage.SQL


def test_rescore_progress_polls_while_running(org: Org, login: Login) -> None:
    run = RescoreRun.objects.create(reason="Rule changed", total=200, done=50, status="running")
    page = login(org.ann).get(f"/scoring/rescores/{run.pk}/").content.decode()
    assert "50 of 200 leads (25%)" in page and 'hx-trigger="every 1s"' in page
    RescoreRun.objects.filter(pk=run.pk).update(status="done", done=200)
    assert "every 1s" not in login(org.ann).get(f"/scoring/rescores/{run.pk}/").content.decode()
