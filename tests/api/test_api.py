"""REST API v1 end to end: capture, read, change, and every kind of bad input."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from leadflow.access.models import Team, User
from leadflow.capture.models import Submission
from leadflow.leads.models import Lead, StageTransition
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def capture(api: ApiClient, **fields: Any) -> Any:
    return api.post("/leads", fields)


def test_capture_creates_then_matches(api: ApiClient, sales_team: Team) -> None:
    created = capture(api, email="jo@example.com", first_name="Jo")
    assert created.status_code == 201
    body = created.json()
    assert body["outcome"] == "created"
    assert body["lead"]["stage"] == "lead" and body["lead"]["score"] == 0
    assert body["lead"]["owner"]["username"] == "rep1"

    matched = capture(api, email="JO@example.com", company="Acme")
    assert matched.status_code == 200
    assert matched.json()["outcome"] == "updated"
    assert matched.json()["lead"]["id"] == body["lead"]["id"]


def test_idempotency_key_makes_retries_safe(api: ApiClient, sales_team: Team) -> None:
    first = api.post("/leads", {"email": "retry@example.com"}, **{"Idempotency-Key": "abc"})
    again = api.post("/leads", {"email": "retry@example.com"}, **{"Idempotency-Key": "abc"})
    assert first.status_code == again.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["submission_id"] == first.json()["submission_id"]
    assert Submission.objects.count() == 1


def test_invalid_capture_answers_422_per_field_and_is_quarantined(api: ApiClient) -> None:
    response = capture(api, email="nope", phone=["not", "text"], country="Narnia")
    assert response.status_code == 422
    body = response.json()
    fields = {tuple(error["loc"]) for error in body["detail"]}
    assert fields == {("body", "email"), ("body", "phone"), ("body", "country")}
    assert all(error["msg"] for error in body["detail"])
    submission = Submission.objects.get(pk=body["submission_id"])
    assert submission.status == "quarantined" and submission.payload["country"] == "Narnia"

    listed = api.get("/submissions").json()["items"]
    assert [s["id"] for s in listed] == [submission.pk]
    replay = api.post(f"/submissions/{submission.pk}/replay", {"payload": {"email": "yes@example.com"}})
    assert replay.status_code == 201
    assert api.get("/submissions").json()["items"] == []


def test_malformed_json_is_kept_and_answers_422(api: ApiClient) -> None:
    response = api.post("/leads", '{"email": "half')
    assert response.status_code == 422
    assert Submission.objects.get().raw_body == '{"email": "half'


def test_oversized_body_answers_413(api: ApiClient) -> None:
    response = api.post("/leads", {"email": "big@example.com", "notes": "x" * 300_000})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_authentication_and_scopes(api_with_scopes: Callable[..., ApiClient], sales_team: Team) -> None:
    assert ApiClient(None).get("/leads").status_code == 401
    assert ApiClient("lf_wrong_key").get("/leads").status_code == 401
    capture_only = api_with_scopes("capture")
    assert capture(capture_only, email="s@example.com").status_code == 201
    assert capture_only.get("/leads").status_code == 403
    reader = api_with_scopes("read")
    assert capture(reader, email="t@example.com").status_code == 403
    assert reader.get("/leads").status_code == 200
    lead_id = Lead.objects.first().pk  # type: ignore[union-attr]
    assert reader.post(f"/leads/{lead_id}/notes", {"body": "hi"}).status_code == 403


def test_read_list_filter_and_paginate(api: ApiClient, sales_team: Team) -> None:
    for i in range(5):
        capture(api, email=f"p{i}@example.com", company="Acme" if i % 2 else "Globex", first_name=f"P{i}")
    page = api.get("/leads", limit=2).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        page = api.get("/leads", limit=2, cursor=page["next_cursor"]).json()
        seen += [item["id"] for item in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)

    acme = api.get("/leads", q="acme").json()["items"]
    assert {item["company"] for item in acme} == {"Acme"}
    rep1 = User.objects.get(username="rep1")
    owned = api.get("/leads", owner_id=rep1.pk).json()["items"]
    assert owned and {item["owner"]["id"] for item in owned} == {rep1.pk}
    assert api.get("/leads", score_min=1).json()["items"] == []
    assert api.get("/leads", cursor="garbage").status_code == 422
    assert api.get("/leads", stage="bogus").status_code == 422

    detail = api.get(f"/leads/{seen[0]}").json()
    assert detail["first_touch"]["channel"] == "api"
    assert api.get("/leads/999999").status_code == 404


def test_notes_activities_timeline_and_events(api: ApiClient, sales_team: Team) -> None:
    lead_id = capture(api, email="tl@example.com").json()["lead"]["id"]
    assert api.post(f"/leads/{lead_id}/notes", {"body": "Called twice"}).status_code == 201
    assert api.post(f"/leads/{lead_id}/notes", {"body": ""}).status_code == 422
    call = api.post(f"/leads/{lead_id}/activities", {"kind": "call", "summary": "Left voicemail"})
    assert call.status_code == 201
    assert api.post(f"/leads/{lead_id}/activities", {"kind": "merge"}).status_code == 422
    assert (
        api.post(
            "/events", {"email": "TL@example.com", "name": "page_view", "properties": {"url": "/pricing"}}
        ).status_code
        == 201
    )
    assert api.post("/events", {"lead_id": lead_id, "name": "whitepaper_download"}).status_code == 201
    assert api.post("/events", {"email": "ghost@example.com", "name": "x"}).status_code == 422
    assert api.post("/events", {"name": "x"}).status_code == 422

    timeline = api.get(f"/leads/{lead_id}/timeline").json()["items"]
    kinds = [a["kind"] for a in timeline]
    assert kinds[:4] == ["event", "page_view", "call", "note"]
    assert {"capture", "assignment"} <= set(kinds)
    notes = api.get(f"/leads/{lead_id}/timeline", kind="note").json()["items"]
    assert [a["summary"] for a in notes] == ["Called twice"]


def test_stage_and_status_changes_are_logged_and_backward_needs_reason(
    api: ApiClient, sales_team: Team
) -> None:
    lead_id = capture(api, email="st@example.com").json()["lead"]["id"]
    forward = api.post(f"/leads/{lead_id}/stage", {"stage": "mql"})
    assert forward.status_code == 200 and forward.json()["qualified_at"]
    back = api.post(f"/leads/{lead_id}/stage", {"stage": "disqualified"})
    assert back.status_code == 422
    assert back.json()["detail"][0]["loc"] == ["body", "reason"]
    assert (
        api.post(f"/leads/{lead_id}/stage", {"stage": "disqualified", "reason": "Student"}).status_code == 200
    )
    assert api.post(f"/leads/{lead_id}/status", {"status": "attempting"}).status_code == 200
    log = list(
        StageTransition.objects.filter(lead_id=lead_id).values_list(
            "field", "from_value", "to_value", "reason"
        )
    )
    assert log == [
        ("stage", "lead", "mql", ""),
        ("stage", "mql", "disqualified", "Student"),
        ("status", "new", "attempting", ""),
    ]


def test_patch_updates_with_validation(api: ApiClient, sales_team: Team) -> None:
    lead_id = capture(api, email="pa@example.com").json()["lead"]["id"]
    ok = api.patch(f"/leads/{lead_id}", {"job_title": "VP Sales", "country": "Deutschland"})
    assert ok.status_code == 200
    assert (ok.json()["job_title"], ok.json()["country"]) == ("VP Sales", "DE")
    bad = api.patch(f"/leads/{lead_id}", {"email": "x@", "owner": 3})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "email"), ("body", "owner")}


def test_rep_key_cannot_read_or_change_another_reps_lead(
    api: ApiClient, api_with_scopes: Callable[..., ApiClient], sales_team: Team
) -> None:
    mine = capture(api, email="mine@example.com").json()["lead"]  # rep1
    theirs = capture(api, email="theirs@example.com").json()["lead"]  # rep2
    rep1 = User.objects.get(username="rep1")
    rep_api = api_with_scopes("read", "write", user=rep1)
    assert [item["id"] for item in rep_api.get("/leads").json()["items"]] == [mine["id"]]
    assert rep_api.get(f"/leads/{theirs['id']}").status_code == 404
    assert rep_api.get(f"/leads/{theirs['id']}/timeline").status_code == 404
    assert rep_api.post(f"/leads/{theirs['id']}/notes", {"body": "x"}).status_code == 404
    assert rep_api.patch(f"/leads/{theirs['id']}", {"company": "x"}).status_code == 404
    assert rep_api.post(f"/leads/{theirs['id']}/stage", {"stage": "sql"}).status_code == 404
    assert rep_api.get(f"/leads/{mine['id']}").status_code == 200


def test_openapi_and_offline_docs(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/leads" in schema["paths"]
    assert "LeadCaptureIn" in schema["components"]["schemas"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content


def test_unexpected_error_answers_500_without_a_trace(
    api: ApiClient, sales_team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadflow.leads import api as leads_api

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(leads_api, "lead_list", explode)
    response = api.get("/leads")
    assert response.status_code == 500
    assert b"secret internals" not in response.content and b"Traceback" not in response.content
    assert "Reference" in response.json()["detail"]


def test_list_queries_do_not_grow_with_rows(
    api: ApiClient, sales_team: Team, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        capture(api, email=f"q{i}@example.com", utm_source="google")
    with django_assert_max_num_queries(8):
        assert len(api.get("/leads", limit=30).json()["items"]) == 30
