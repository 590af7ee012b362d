"""Duplicates in the database: the in-flow check, the review queue, the scan, accounts, merge and undo."""

from collections.abc import Callable
from typing import Any

import pytest

from leadflow.access.models import User
from leadflow.capture.services import lead_capture
from leadflow.hygiene.models import CandidateStatus, DuplicateCandidate, MatchKey, MergeJournal
from leadflow.hygiene.services import (
    MergeError,
    account_save,
    duplicates_scan,
    lead_merge,
    merge_undo,
)
from leadflow.leads.models import Activity, Consent, ConsentState, Lead, LeadIdentity, Task, Touch
from leadflow.pipeline.models import AccountLead

pytestmark = pytest.mark.django_db

JON = {
    "first_name": "Jonathan",
    "last_name": "Smith",
    "email": "jon@acme.io",
    "company": "Acme Inc",
    "city": "Berlin",
}


def capture(**fields: Any) -> Lead:
    result = lead_capture(payload=fields)
    assert result.lead is not None, result.submission.errors
    return result.lead


def identify_summary(lead: Lead) -> str:
    submission = lead.submission_set.order_by("-id").first() if hasattr(lead, "submission_set") else None
    assert submission is not None
    return next(e["summary"] for e in submission.trace if e["step"] == "identify")


def test_near_certain_duplicate_joins_the_existing_lead() -> None:
    first = capture(**JON)
    result = lead_capture(
        payload={
            "first_name": "Jonathon",
            "last_name": "Smyth",
            "company": "ACME GmbH",
            "city": "Berlin",
            "phone": "+4930111222",
        }
    )
    assert result.lead == first and not result.created
    identify = next(e for e in result.submission.trace if e["step"] == "identify")
    assert identify["status"] == "matched"
    assert f"Matched existing lead {first.pk} as a duplicate" in identify["summary"]
    assert "company same company" in identify["summary"]
    assert Lead.objects.count() == 1


def test_possible_duplicate_is_queued_for_review_with_its_reasons() -> None:
    first = capture(**JON)
    result = lead_capture(
        payload={
            "first_name": "Jonathon",
            "last_name": "Smyth",
            "company": "ACME GmbH",
            "city": "Munich",
            "phone": "+4930111222",
        }
    )
    assert result.created and result.lead is not None and result.lead != first
    candidate = DuplicateCandidate.objects.get()
    assert (candidate.left_id, candidate.right_id) == (first.pk, result.lead.pk)
    assert 0.8 <= candidate.probability < 0.99 and candidate.status == CandidateStatus.OPEN
    levels = {e["field"]: e["level"] for e in candidate.evidence}
    assert levels["city"] == "different" and levels["email"] == "missing"
    identify = next(e for e in result.submission.trace if e["step"] == "identify")
    assert f"Possible duplicate of lead {first.pk}" in identify["summary"]


def test_namesakes_at_one_company_with_different_emails_and_phones_go_to_review() -> None:
    """Same name, same company: likely, not certain; differing identifiers leave the call to a person."""
    first = capture(**{**JON, "email": "jon.smith@acme.de", "phone": "+4930111222"})
    result = lead_capture(payload={**JON, "email": "j.smith.sales@acme.de", "phone": "+4930999888"})
    assert result.created and result.lead is not None and result.lead != first
    candidate = DuplicateCandidate.objects.get()
    assert candidate.probability >= 0.99  # the fields alone would have merged them
    identify = next(e for e in result.submission.trace if e["step"] == "identify")
    assert "not merged automatically: the emails and phones differ" in identify["summary"]


def test_unrelated_lead_is_neither_merged_nor_queued() -> None:
    capture(**JON)
    capture(first_name="Maria", last_name="Garcia", email="maria@globex.com", company="Globex", city="Madrid")
    assert Lead.objects.count() == 2 and not DuplicateCandidate.objects.exists()


def test_placeholder_values_never_merge_or_queue() -> None:
    for _ in range(2):
        capture(first_name="test", last_name="test", email="test@test.com", company="n/a")
    capture(first_name="asdf", last_name="asdf", email="asdf@asdf.com", company="asdf")
    assert Lead.objects.count() == 3
    assert not DuplicateCandidate.objects.exists()
    assert not LeadIdentity.objects.filter(value="test@test.com").exists()
    assert duplicates_scan().candidates == 0


def test_scan_queues_pairs_once_and_can_merge_automatically(make_user: Callable[..., User]) -> None:
    a = Lead.objects.create(first_name="Anna", last_name="Kowalski", company="Initech Ltd", city="Warsaw")
    b = Lead.objects.create(first_name="Ana", last_name="Kowalski", company="Initech", city="Warsaw")
    Lead.objects.create(first_name="Piotr", last_name="Nowak", company="Initech", city="Gdansk")
    first = duplicates_scan()
    assert (first.leads, first.candidates) == (3, 1)
    assert duplicates_scan().candidates == 0
    merged = duplicates_scan(auto_merge=True, actor=make_user("admin1", role="admin"))
    assert merged.merged == 1
    assert Lead.objects.filter(pk=a.pk).exists() and not Lead.objects.filter(pk=b.pk).exists()
    assert DuplicateCandidate.objects.get().status == CandidateStatus.MERGED


def test_new_lead_is_linked_to_its_account_and_owner(make_user: Callable[..., User], sales_team: Any) -> None:
    owner = make_user("ae1")
    account_save(name="Umbrella Corp", domain="umbrella.com", owner=owner)
    result = lead_capture(payload={"email": "alice@umbrella.com", "first_name": "Alice"})
    assert result.lead is not None
    lead = Lead.objects.get(pk=result.lead.pk)
    assert AccountLead.objects.get(lead=lead).account.name == "Umbrella Corp"
    assert lead.owner == owner
    identify = next(e for e in result.submission.trace if e["step"] == "identify")
    assert "Linked to account Umbrella Corp by domain umbrella.com" in identify["summary"]
    by_name = capture(first_name="Bob", company="UMBRELLA CORPORATION", phone="+12125550000")
    assert AccountLead.objects.get(lead=by_name).matched_by == "company name umbrella"
    by_name.refresh_from_db()
    assert by_name.owner == owner
    assignment = by_name.activities.get(kind="assignment")
    assert "Account match: ae1 owns account Umbrella Corp" in assignment.summary


def _lead_with_history(name: str, email: str, consent: str) -> Lead:
    lead = capture(
        first_name=name, last_name="Doe", email=email, phone="+4930123456" if name == "Jane" else ""
    )
    lead_capture(payload={"email": email, "job_title": f"{name}'s title"})
    Activity.objects.create(lead=lead, kind="note", summary=f"note on {name}")
    Task.objects.create(lead=lead, title=f"call {name}", due_at=lead.created_at)
    Consent.objects.update_or_create(
        lead=lead, channel="email", defaults={"state": consent, "method": "test"}
    )
    return Lead.objects.get(pk=lead.pk)


def test_merge_moves_everything_and_undo_restores_it(make_user: Callable[..., User]) -> None:
    actor = make_user("manager1", role="manager")
    survivor = _lead_with_history("Jane", "jane@acme.io", ConsentState.GRANTED)
    other = _lead_with_history("Janet", "janet.doe@gmail.com", ConsentState.DENIED)
    before = {
        lead.pk: {
            "activities": set(lead.activities.values_list("pk", flat=True)),
            "touches": set(lead.touches.values_list("pk", flat=True)),
            "tasks": set(lead.tasks.values_list("pk", flat=True)),
            "identities": set(lead.identities.values_list("value", flat=True)),
        }
        for lead in (survivor, other)
    }
    total_activities = Activity.objects.count()

    journal = lead_merge(survivor=survivor, merged=other, actor=actor, choices={"first_name": "merged"})

    assert not Lead.objects.filter(pk=other.pk).exists()
    survivor.refresh_from_db()
    assert survivor.first_name == "Janet"  # chosen
    assert survivor.email == "jane@acme.io" and survivor.phone_e164 == "+4930123456"  # never blanked
    assert Activity.objects.count() == total_activities + 1  # every activity kept, plus the merge entry
    assert set(survivor.activities.values_list("pk", flat=True)) >= before[other.pk]["activities"]
    assert (
        set(survivor.touches.values_list("pk", flat=True))
        == before[survivor.pk]["touches"] | before[other.pk]["touches"]
    )
    assert (
        set(survivor.tasks.values_list("pk", flat=True))
        == before[survivor.pk]["tasks"] | before[other.pk]["tasks"]
    )
    assert (
        Consent.objects.get(lead=survivor, channel="email").state == ConsentState.DENIED
    )  # most restrictive
    assert lead_capture(payload={"email": "janet.doe@gmail.com"}).lead == survivor  # identities keep matching
    assert MatchKey.objects.filter(lead=survivor).exists()

    restored = merge_undo(journal=journal, actor=actor)

    survivor.refresh_from_db()
    assert (
        restored.pk == other.pk and restored.first_name == "Janet" and restored.email == "janet.doe@gmail.com"
    )
    assert survivor.first_name == "Jane"
    assert set(restored.activities.values_list("pk", flat=True)) >= before[other.pk]["activities"]
    assert before[other.pk]["activities"].isdisjoint(survivor.activities.values_list("pk", flat=True))
    assert set(restored.touches.values_list("pk", flat=True)) >= before[other.pk]["touches"]
    assert set(restored.tasks.values_list("pk", flat=True)) == before[other.pk]["tasks"]
    assert set(restored.identities.values_list("value", flat=True)) == before[other.pk]["identities"]
    assert Consent.objects.get(lead=survivor, channel="email").state == ConsentState.GRANTED
    assert Consent.objects.get(lead=restored, channel="email").state == ConsentState.DENIED
    assert Touch.objects.filter(lead=restored).count() == len(before[other.pk]["touches"]) + 0
    assert MergeJournal.objects.get().undone_at is not None
    with pytest.raises(MergeError, match="already been undone"):
        merge_undo(journal=journal, actor=actor)


def test_survivorship_never_overwrites_with_blank_and_prefers_complete_values() -> None:
    survivor = Lead.objects.create(first_name="Al", company="Acme", job_title="CTO")
    other = Lead.objects.create(first_name="Alexander", company="", job_title="")
    lead_merge(survivor=survivor, merged=other, actor=None)
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.company, survivor.job_title) == ("Alexander", "Acme", "CTO")
    with pytest.raises(MergeError):
        lead_merge(survivor=survivor, merged=survivor, actor=None)
