"""Sources and form builder screens: who sees them, what they show, what they change."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from leadflow.access.models import User
from leadflow.capture.channel_models import FormVariant, MetaLeadSync, SyncStatus, WebForm, WebhookEndpoint
from leadflow.capture.services import lead_capture
from leadflow.capture.webhooks import webhook_endpoint_create
from leadflow.leads.models import Lead, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def meg(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user("meg", role="marketing"))
    return client


def test_sources_need_marketing_or_admin(make_user: Callable[..., User], meg: Client) -> None:
    rep = Client()
    rep.force_login(make_user("rep"))
    assert rep.get("/sources/").status_code == 404
    assert rep.get("/forms/").status_code == 404
    assert meg.get("/sources/").status_code == 200


def test_sources_list_shows_counts_last_submission_and_failures(meg: Client) -> None:
    google = webhook_endpoint_create(name="Google Ads", kind="google_ads", actor=None)
    lead_capture(payload={"email": "a@example.com"}, source=google.source)
    lead_capture(payload={"email": "not-an-email"}, source=google.source)
    Client().post(
        f"/api/v1/hooks/google/{google.key}",
        data=json.dumps({"lead_id": "1", "google_key": "wrong"}),
        content_type="application/json",
    )
    html = meg.get("/sources/").content.decode()
    row = html.split("Google Ads</a>")[1].split("</tr>")[0]
    cells = [c.split(">", 1)[1].split("<")[0] for c in row.split("<td")[1:]]
    assert cells[:4] == ["Paid ads", "Google Ads lead form", "1", "2"]
    assert "1 quarantined, 0 spam, 0 failed syncs, 1 refused calls" in row


def test_create_a_webhook_source_and_configure_its_mapping(meg: Client) -> None:
    response = meg.post("/sources/webhooks/new/", {"name": "Zapier", "kind": "generic"})
    endpoint = WebhookEndpoint.objects.get(source__name="Zapier")
    assert response["Location"] == f"/sources/{endpoint.source.pk}/"
    page = meg.get(response["Location"]).content.decode()
    assert f"/api/v1/hooks/generic/{endpoint.key}" in page
    bad = meg.post(response["Location"], {"secret": "s", "mapping": '{"nope": "a"}'})
    assert "Not a lead field" in bad.content.decode()
    meg.post(response["Location"], {"secret": "s2", "mapping": '{"email": "data.email"}'})
    endpoint.refresh_from_db()
    assert endpoint.secret == "s2" and endpoint.mapping == {"email": "data.email"}


def test_source_cost_is_edited(meg: Client) -> None:
    source = Source.objects.create(name="Trade show", channel="import")
    meg.post(f"/sources/{source.pk}/settings/", {"cost": "1500.50", "is_active": "on"})
    source.refresh_from_db()
    assert str(source.cost) == "1500.50"


def test_failed_meta_sync_is_listed_and_replayed_from_the_ui(
    meg: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    endpoint = webhook_endpoint_create(name="Facebook", kind="meta", actor=None)
    sync = MetaLeadSync.objects.create(
        endpoint=endpoint, leadgen_id="999", status=SyncStatus.FAILED, last_error="Graph API answered 503"
    )
    page = meg.get(f"/sources/{endpoint.source.pk}/").content.decode()
    assert "Graph API answered 503" in page and "Replay Meta lead 999" in page
    with django_capture_on_commit_callbacks(execute=True):
        meg.post(f"/sources/{endpoint.source.pk}/meta-syncs/{sync.pk}/replay/")
    sync.refresh_from_db()
    assert sync.status == SyncStatus.PENDING


def test_form_builder_creates_and_saves_fields_and_variants(meg: Client) -> None:
    response = meg.post("/forms/new/", {"title": "Webinar"})
    form = WebForm.objects.get(title="Webinar")
    assert response["Location"] == f"/forms/{form.pk}/"
    page = meg.get(response["Location"]).content.decode()
    assert "leadflow-form.js" in page and f"data-form=&quot;{form.key}&quot;" in page
    data = {
        "title": "Webinar signup",
        "submit_label": "Register",
        "consent_text": "I agree to be emailed.",
        "thank_you": "See you there",
        "allowed_origins": "https://www.example.com",
        "min_fill_seconds": "2",
        "rate_limit_per_hour": "10",
        "progressive": "on",
        "field-0-name": "email",
        "field-0-label": "Email",
        "field-0-type": "email",
        "field-0-maps_to": "email",
        "field-0-required": "on",
        "field-1-name": "role",
        "field-1-label": "Role",
        "field-1-type": "select",
        "field-1-maps_to": "job_title",
        "field-1-choices": "CTO, CEO",
        "field-2-name": "company",
        "field-2-maps_to": "company",
        "field-2-delete": "on",
        "variant-0-name": "Short",
        "variant-0-weight": "30",
        "variant-0-fields": "email",
        "variant-1-name": "Long",
        "variant-1-weight": "70",
    }
    saved = meg.post(f"/forms/{form.pk}/", data)
    assert saved.status_code == 302
    form.refresh_from_db()
    assert form.title == "Webinar signup" and form.origins == ["https://www.example.com"]
    assert [f["name"] for f in form.fields] == ["email", "role"]
    assert form.fields[1]["choices"] == ["CTO", "CEO"] and form.fields[0]["required"]
    assert [(v.name, v.weight, v.field_names) for v in FormVariant.objects.order_by("pk")] == [
        ("Short", 30, ["email"]),
        ("Long", 70, []),
    ]
    hosted = Client().get(f"/f/{form.key}/").content.decode()
    assert "I agree to be emailed." in hosted


def test_form_builder_shows_errors(meg: Client) -> None:
    meg.post("/forms/new/", {"title": "Bad"})
    form = WebForm.objects.get()
    page = meg.post(
        f"/forms/{form.pk}/", {"title": "Bad", "field-0-name": "n", "field-0-maps_to": "first_name"}
    )
    assert "needs an email or phone field" in page.content.decode()


def test_capture_touch_shows_on_the_lead_timeline(make_user: Callable[..., User]) -> None:
    admin = make_user("ada", role="admin")
    lead = lead_capture(
        payload={"email": "t@example.com", "attribution": {"utm_source": "linkedin", "fbclid": "fb-1"}}
    ).lead
    assert isinstance(lead, Lead)
    client = Client()
    client.force_login(admin)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    timeline = html.split('id="lead-timeline"')[1]
    assert "linkedin" in timeline and "fb-1" in timeline


def test_quarantined_submission_is_replayed_from_the_source_page(meg: Client) -> None:
    from leadflow.leads.models import CustomField

    source = Source.objects.create(name="Partner list", channel="import")
    CustomField.objects.create(key="seats", label="Seats", field_type="number")
    result = lead_capture(payload={"email": "q@example.com", "seats": "many"}, source=source)
    assert result.quarantined
    page = meg.get(f"/sources/{source.pk}/").content.decode()
    assert f"Replay submission {result.submission.pk}" in page
    still = meg.post(f"/sources/{source.pk}/submissions/{result.submission.pk}/replay/", follow=True)
    assert "still quarantined" in still.content.decode()
    result.submission.payload = {"email": "q@example.com", "seats": "12"}
    result.submission.save()
    done = meg.post(f"/sources/{source.pk}/submissions/{result.submission.pk}/replay/", follow=True)
    assert "went through" in done.content.decode()
    assert Lead.objects.get(email_normalized="q@example.com").custom["seats"] == 12
