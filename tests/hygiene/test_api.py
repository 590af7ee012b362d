"""The duplicates API: queue, merge with field choices, dismiss, undo, errors and access."""

from collections.abc import Callable
from typing import Any

import pytest

from leadflow.capture.services import lead_capture
from leadflow.hygiene.models import DuplicateCandidate
from leadflow.leads.models import Activity, Lead

pytestmark = pytest.mark.django_db


def _pair() -> tuple[Lead, Lead]:
    first = lead_capture(
        payload={
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "jon@acme.io",
            "company": "Acme",
            "city": "Berlin",
        }
    ).lead
    second = lead_capture(
        payload={
            "first_name": "Jonathon",
            "last_name": "Smyth",
            "company": "ACME GmbH",
            "city": "Munich",
            "phone": "+4930111222",
        }
    ).lead
    assert first is not None and second is not None and first != second
    return first, second


def test_queue_merge_and_undo(api: Any) -> None:
    first, second = _pair()
    queue = api.get("/duplicates").json()
    assert [(c["left_id"], c["right_id"]) for c in queue] == [(first.pk, second.pk)]
    assert {e["field"] for e in queue[0]["evidence"]} >= {"first_name", "last_name", "company"}
    activities = Activity.objects.count()

    merged = api.post(f"/duplicates/{queue[0]['id']}/merge", {"choices": {"city": "merged"}})
    assert merged.status_code == 201, merged.content
    journal = merged.json()
    assert journal["survivor_id"] == first.pk and journal["merged_id"] == second.pk
    assert Lead.objects.get(pk=first.pk).city == "Munich"
    assert Lead.objects.get(pk=first.pk).phone_e164 == "+4930111222"
    assert Activity.objects.count() == activities + 1
    assert api.get("/duplicates").json() == []

    undone = api.post(f"/merges/{journal['id']}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    assert Lead.objects.get(pk=second.pk).city == "Munich" and Lead.objects.get(pk=first.pk).city == "Berlin"
    assert Activity.objects.count() == activities + 3  # merge entry and one undo entry on each lead
    assert api.post(f"/merges/{journal['id']}/undo").status_code == 422


def test_bad_choices_and_unknown_ids(api: Any) -> None:
    first, _ = _pair()
    candidate = DuplicateCandidate.objects.get()
    response = api.post(f"/duplicates/{candidate.pk}/merge", {"choices": {"city": "both", "owner": "merged"}})
    assert response.status_code == 422
    locations = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert locations == {("body", "choices", "city"), ("body", "choices", "owner")}
    assert api.post("/duplicates/999999/merge", {}).status_code == 404
    assert api.post(f"/leads/{first.pk}/merge", {"other_id": first.pk}).status_code == 422
    assert api.post(f"/leads/{first.pk}/merge", {"other_id": 999999}).status_code == 404
    dismissed = api.post(f"/duplicates/{candidate.pk}/dismiss").json()
    assert dismissed["status"] == "dismissed"
    assert api.post(f"/duplicates/{candidate.pk}/merge", {}).status_code == 422


def test_merge_any_two_leads_and_scopes(
    api_with_scopes: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    a = Lead.objects.create(first_name="Zed", email="zed@a.io")
    b = Lead.objects.create(first_name="Zed", email="zed@b.io")
    assert api_with_scopes("read").post(f"/leads/{a.pk}/merge", {"other_id": b.pk}).status_code == 403
    rep = make_user("rep9")
    hidden = api_with_scopes("read", "write", user=rep).post(f"/leads/{a.pk}/merge", {"other_id": b.pk})
    assert hidden.status_code == 404
    done = api_with_scopes("read", "write").post(f"/leads/{a.pk}/merge", {"other_id": b.pk})
    assert done.status_code == 201 and done.json()["survivor_id"] == a.pk
    assert not Lead.objects.filter(pk=b.pk).exists()
