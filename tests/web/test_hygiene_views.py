"""Duplicate screens: queue, side-by-side compare with evidence, per-field merge, undo, quality flags."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from leadflow.access.models import User
from leadflow.capture.services import lead_capture
from leadflow.hygiene.models import DuplicateCandidate, MergeJournal
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db


def _pair() -> tuple[Lead, Lead]:
    first = lead_capture(
        payload={
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "sales@acme.io",
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
            "phone": "+4915112345678",
        }
    ).lead
    assert first is not None and second is not None
    return first, second


def test_review_compare_merge_and_undo(org: Any, login: Callable[[User], Client]) -> None:
    first, second = _pair()
    client = login(org.admin)
    queue = client.get("/duplicates/")
    assert queue.status_code == 200 and "Jonathon Smyth" in queue.content.decode()
    candidate = DuplicateCandidate.objects.get()
    compare = client.get(f"/duplicates/{candidate.pk}/").content.decode()
    assert "Match probability" in compare and "similar (Jaro-Winkler" in compare
    assert 'name="field_city"' in compare

    response = client.post(
        f"/duplicates/{candidate.pk}/",
        {"keep": "left", "action": "merge", "field_city": "right", "field_first_name": "left"},
    )
    assert response.status_code == 302 and response["Location"] == f"/leads/{first.pk}/"
    survivor = Lead.objects.get(pk=first.pk)
    assert survivor.city == "Munich" and survivor.first_name == "Jonathan"
    assert not Lead.objects.filter(pk=second.pk).exists()

    assert f"/leads/{first.pk}/hygiene/" in client.get(f"/leads/{first.pk}/").content.decode()
    detail = client.get(f"/leads/{first.pk}/hygiene/").content.decode()
    assert "Undo merge" in detail and "Role address" in detail and "mobile" in detail
    journal = MergeJournal.objects.get()
    assert client.get("/duplicates/merges/").status_code == 200
    undone = client.post(f"/duplicates/merges/{journal.pk}/undo/")
    assert undone.status_code == 302 and Lead.objects.filter(pk=second.pk).exists()
    assert Lead.objects.get(pk=first.pk).city == "Berlin"


def test_dismiss_and_access(org: Any, login: Callable[[User], Client]) -> None:
    _pair()
    candidate = DuplicateCandidate.objects.get()
    assert login(org.cal).get(f"/duplicates/{candidate.pk}/").status_code == 404  # cannot see both leads
    client = login(org.admin)
    assert client.post(f"/duplicates/{candidate.pk}/", {"action": "dismiss"}).status_code == 302
    assert DuplicateCandidate.objects.get().status == "dismissed"
    assert "No possible duplicates" in client.get("/duplicates/").content.decode()
