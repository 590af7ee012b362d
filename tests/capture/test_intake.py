"""The intake flow: every step runs, records its outcome, and nothing is lost."""

from typing import Any

import pytest

from leadflow.access.models import Team
from leadflow.capture.intake import STEPS
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.capture.services import LeadValidationError, lead_capture, lead_update, submission_replay
from leadflow.hygiene.models import MatchKey
from leadflow.hygiene.services import account_save
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Consent,
    CustomField,
    Lead,
    LeadIdentity,
    Source,
    Task,
    Touch,
)
from leadflow.pipeline.models import AccountLead

pytestmark = pytest.mark.django_db

FULL = {
    "first_name": "ADA",
    "last_name": "lovelace",
    "email": "Ada.Lovelace@Analytical.Example",
    "phone": "+1 (415) 555-0142",
    "company": "Analytical Engines Ltd",
    "job_title": "CEO",
    "country": "United Kingdom",
    "annual_revenue": "1.5M",
    "utm_source": "google",
    "utm_campaign": "spring",
    "gclid": "abc123",
    "favourite_colour": "green",
    "consent": {"email": {"granted": True, "text": "Send me product news.", "method": "signup form"}},
}


def test_new_lead_runs_every_step_and_says_why(sales_team: Team) -> None:
    result = lead_capture(payload=FULL)

    assert result.created and not result.quarantined
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("Ada", "Lovelace")
    assert lead.email_normalized == "ada.lovelace@analytical.example"
    assert lead.phone_e164 == "+14155550142"
    assert lead.country == "GB"
    assert lead.company_domain == "analytical.example"
    assert str(lead.annual_revenue) == "1500000.00"
    assert lead.extra == {"favourite_colour": "green"}
    assert lead.owner is not None and lead.owner.username == "rep1"
    assert lead.team == sales_team and lead.assigned_at is not None

    trace = result.submission.trace
    assert [entry["step"] for entry in trace] == list(STEPS)
    assert all(entry["ms"] >= 0 for entry in trace)
    route = next(e for e in trace if e["step"] == "route")
    assert "round robin" in route["summary"] and "rep1" in route["summary"]

    assert lead.first_touch == lead.last_touch
    assert lead.first_touch is not None and lead.first_touch.gclid == "abc123"
    consent = Consent.objects.get(lead=lead)
    assert (consent.channel, consent.state, consent.text_shown) == (
        "email",
        "granted",
        "Send me product news.",
    )
    kinds = set(Activity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert {ActivityKind.CAPTURE, ActivityKind.ASSIGNMENT, ActivityKind.CONSENT} <= kinds
    task = Task.objects.get(lead=lead)
    assert task.assignee == lead.owner and task.title == "First contact"


def test_second_submission_updates_instead_of_duplicating(sales_team: Team) -> None:
    first = lead_capture(payload={"email": "sam@example.org", "first_name": "Sam"})
    second = lead_capture(
        payload={"email": "SAM@example.org", "company": "Acme", "first_name": "", "utm_source": "x"}
    )

    assert first.created and not second.created
    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert lead.first_name == "Sam", "a blank never overwrites a value"
    assert lead.company == "Acme"
    assert lead.first_touch_id != lead.last_touch_id
    assert lead.last_touch is not None and lead.last_touch.utm_source == "x"
    assert Touch.objects.filter(lead=lead).count() == 2
    identify = next(e for e in second.submission.trace if e["step"] == "identify")
    assert identify["status"] == "matched" and "email" in identify["summary"]
    route = next(e for e in second.submission.trace if e["step"] == "route")
    assert "Kept its owner" in route["summary"]
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"phone": "+44 20 7946 0958"}, {"phone": "0044 20 7946 0958", "first_name": "Kim"}),
        ({"external_id": "crm-7", "first_name": "Lee"}, {"external_id": "crm-7", "email": "lee@example.com"}),
    ],
)
def test_identifies_by_phone_and_external_id(
    sales_team: Team, first: dict[str, Any], second: dict[str, Any]
) -> None:
    lead_capture(payload=first)
    result = lead_capture(payload=second)
    assert not result.created
    assert Lead.objects.count() == 1


def test_external_ids_are_scoped_by_source(sales_team: Team) -> None:
    google = Source.objects.create(name="Google Ads")
    meta = Source.objects.create(name="Meta")
    lead_capture(payload={"external_id": "1"}, source=google)
    lead_capture(payload={"external_id": "1"}, source=meta)
    assert Lead.objects.count() == 2


def test_invalid_submission_is_quarantined_with_reasons_and_replayable(sales_team: Team) -> None:
    result = lead_capture(payload={"email": "not-an-email", "phone": "12", "country": "Atlantis"})

    assert result.quarantined and result.lead is None
    submission = Submission.objects.get()
    assert submission.status == SubmissionStatus.QUARANTINED
    assert set(submission.errors) == {"email", "phone", "country"}
    assert "Atlantis" in submission.errors["country"]
    assert submission.payload["email"] == "not-an-email", "the raw payload is kept"
    assert Lead.objects.count() == 0

    replayed = submission_replay(
        submission=submission, payload={"email": "fixed@example.com", "country": "FR"}
    )
    assert replayed.created
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.PROCESSED
    assert submission.original_payload["email"] == "not-an-email"
    assert submission.attempts == 2
    assert Lead.objects.get().country == "FR"


def test_submission_without_identity_is_quarantined(sales_team: Team) -> None:
    result = lead_capture(payload={"first_name": "Anonymous"})
    assert result.quarantined
    assert "email" in result.submission.errors


def test_non_object_payload_is_kept(sales_team: Team) -> None:
    result = lead_capture(payload=None, raw_body="<xml>not json</xml>")
    assert result.quarantined
    assert Submission.objects.get().raw_body == "<xml>not json</xml>"


def test_custom_fields_are_validated_and_unknown_fields_kept(sales_team: Team) -> None:
    CustomField.objects.create(key="seats", label="Seats", field_type="number")
    CustomField.objects.create(key="plan", label="Plan", field_type="choice", choices=["Free", "Pro"])

    ok = lead_capture(
        payload={"email": "a@example.com", "seats": "12", "custom": {"plan": "pro", "other": 1}}
    )
    assert ok.lead is not None
    assert ok.lead.custom == {"seats": 12, "plan": "Pro"}
    assert ok.lead.extra == {"custom.other": 1}

    bad = lead_capture(payload={"email": "b@example.com", "custom": {"plan": "Platinum", "seats": "many"}})
    assert bad.quarantined
    assert set(bad.submission.errors) == {"custom.plan", "custom.seats"}


def test_idempotency_key_replays_the_first_result(sales_team: Team) -> None:
    first = lead_capture(payload={"email": "idem@example.com"}, idempotency_key="k1")
    again = lead_capture(payload={"email": "idem@example.com", "company": "Changed"}, idempotency_key="k1")
    assert again.replayed and again.submission.pk == first.submission.pk
    assert Submission.objects.count() == 1
    assert Lead.objects.get().company == ""


def test_round_robin_takes_turns_and_skips_unavailable_reps(sales_team: Team) -> None:
    rep2 = sales_team.members.get(username="rep2")
    rep2.accepts_leads = False
    rep2.save()
    owners = [lead_capture(payload={"email": f"rr{i}@example.com"}).lead.owner.username for i in range(4)]  # type: ignore[union-attr]
    assert owners == ["rep1", "rep3", "rep1", "rep3"]


def test_no_default_team_leaves_lead_unassigned_with_reason(db: None) -> None:
    result = lead_capture(payload={"email": "pool@example.com"})
    assert result.lead is not None and result.lead.owner is None
    route = next(e for e in result.submission.trace if e["step"] == "route")
    assert "unassigned pool" in route["summary"]


def test_team_without_available_members_keeps_lead_in_team_pool(db: None) -> None:
    team = Team.objects.create(name="Empty", is_default=True)
    result = lead_capture(payload={"email": "pool@example.com"})
    assert result.lead is not None and result.lead.owner is None and result.lead.team == team


def test_flow_failure_keeps_the_submission(sales_team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadflow.capture import intake

    def broken(*, leads: list[Lead]) -> dict[int, Any]:
        raise RuntimeError("scoring engine down")

    monkeypatch.setattr(intake, "leads_score", broken)
    with pytest.raises(RuntimeError):
        lead_capture(payload={"email": "kept@example.com"})
    submission = Submission.objects.get()
    assert submission.status == SubmissionStatus.QUARANTINED
    assert Lead.objects.count() == 0, "nothing is half-written"

    monkeypatch.undo()
    assert submission_replay(submission=submission).created


def test_edit_normalizes_clears_and_records_identity(sales_team: Team) -> None:
    lead = lead_capture(payload={"email": "old@example.com", "company": "Acme"}).lead
    assert lead is not None
    lead = lead_update(
        lead=lead, changes={"email": "New@Example.com", "company": "", "country": "germany"}, actor=None
    )
    assert (lead.email_normalized, lead.company, lead.country) == ("new@example.com", "", "DE")
    assert LeadIdentity.objects.filter(lead=lead, value="new@example.com").exists()
    change = Activity.objects.get(lead=lead, kind=ActivityKind.FIELD_CHANGE)
    assert change.payload["changes"]["company"] == ["Acme", ""]
    assert lead_capture(payload={"email": "new@example.com"}).lead == lead

    with pytest.raises(LeadValidationError) as err:
        lead_update(lead=lead, changes={"email": "nope", "stage": "sql"}, actor=None)
    assert set(err.value.errors) == {"email", "stage"}


def test_email_and_phone_of_two_different_leads_update_the_email_match(sales_team: Team) -> None:
    by_email = lead_capture(payload={"email": "e@example.com"}).lead
    by_phone = lead_capture(payload={"phone": "+1 212 555 0123"}).lead
    result = lead_capture(payload={"email": "e@example.com", "phone": "+1 212 555 0123", "city": "Oslo"})
    assert result.lead == by_email and not result.quarantined
    identify = next(e for e in result.submission.trace if e["step"] == "identify")
    assert "belongs to another lead" in identify["detail"]["conflicts"][0]
    assert LeadIdentity.objects.get(kind="phone").lead == by_phone


def test_extra_fields_of_a_later_submission_are_kept(sales_team: Team) -> None:
    lead_capture(payload={"email": "x@example.com", "a": 1})
    lead_capture(payload={"email": "x@example.com", "b": 2})
    assert Lead.objects.get().extra == {"a": 1, "b": 2}


def test_source_named_in_payload_scopes_external_ids_and_matches_case_insensitively(sales_team: Team) -> None:
    Source.objects.create(name="Website")
    lead_capture(payload={"external_id": "9", "source": "WEBSITE"})
    lead_capture(payload={"external_id": "9", "source": "Meta"})
    assert Lead.objects.count() == 2
    assert sorted(Source.objects.values_list("name", flat=True)) == ["Meta", "Website"]
    assert lead_capture(payload={"external_id": "9", "source": "website"}).created is False


def test_an_update_replaces_the_leads_blocking_keys_and_keeps_its_account_link(sales_team: Team) -> None:
    account = account_save(name="Engines", domain="engines.example")
    first = lead_capture(
        payload={
            "email": "ada@engines.example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Engines",
        }
    )
    lead = first.lead
    assert lead is not None
    before = set(MatchKey.objects.filter(lead=lead).values_list("key", flat=True))
    links = list(AccountLead.objects.filter(lead=lead).values_list("account_id", flat=True))

    lead_capture(payload={"email": "ada@engines.example", "last_name": "Byron", "city": "London"})

    after = set(MatchKey.objects.filter(lead=lead).values_list("key", flat=True))
    assert after and after != before
    assert not any("lovelace" in key.lower() for key in after)
    assert list(AccountLead.objects.filter(lead=lead).values_list("account_id", flat=True)) == links
    assert links == [account.pk]
