"""Web forms end to end: hosted page without JS, the embed API with CORS, spam guard, progressive
profiling, consent proof and A/B variants."""

import json
from typing import Any

import pytest
from django.core import signing
from django.test import Client

from leadflow.capture.channel_models import FormPost, FormVariant, WebForm
from leadflow.capture.models import Submission
from leadflow.capture.web_forms import (
    RENDER_SALT,
    VISITOR_COOKIE,
    form_render,
    form_variant_stats,
    web_form_create,
    web_form_update,
)
from leadflow.leads.models import ActivityKind, Consent, CustomField, Lead

pytestmark = pytest.mark.django_db
CONSENT = "Yes, send me the monthly newsletter. I can unsubscribe at any time."


@pytest.fixture
def form(db: None) -> WebForm:
    CustomField.objects.create(key="team_size", label="Team size", field_type="number")
    created = web_form_create(title="Demo request", actor=None)
    return web_form_update(
        form=created,
        values={
            "fields": [
                {
                    "name": "email",
                    "label": "Work email",
                    "type": "email",
                    "required": True,
                    "maps_to": "email",
                },
                {
                    "name": "name",
                    "label": "First name",
                    "type": "text",
                    "required": True,
                    "maps_to": "first_name",
                },
                {"name": "org", "label": "Company", "type": "text", "required": False, "maps_to": "company"},
                {
                    "name": "size",
                    "label": "Team size",
                    "type": "number",
                    "required": False,
                    "maps_to": "custom.team_size",
                },
            ],
            "consent_text": CONSENT,
            "allowed_origins": "http://partner.example",
            "min_fill_seconds": 0,
        },
        actor=None,
    )


def token(form: WebForm, seconds_ago: float = 10, variant: int | None = None) -> str:
    import time

    return signing.dumps({"f": form.pk, "v": variant, "t": time.time() - seconds_ago}, salt=RENDER_SALT)


def hosted_post(client: Client, form: WebForm, **data: str) -> Any:
    return client.post(f"/f/{form.key}/", {"lf_t": token(form), **data}, REMOTE_ADDR="10.0.0.1")


def test_hosted_page_renders_fields_hidden_attribution_and_consent(form: WebForm) -> None:
    page = Client().get(
        f"/f/{form.key}/?utm_source=newsletter&gclid=abc", HTTP_REFERER="https://news.example/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="email"' in html and 'name="size"' in html and CONSENT in html
    assert 'name="utm_source" value="newsletter"' in html and 'name="gclid" value="abc"' in html
    assert 'name="referrer" value="https://news.example/"' in html
    assert 'name="landing_page" value="http://testserver/f/' in html


def test_hosted_post_without_js_captures_the_lead_with_consent_proof_and_touch(form: WebForm) -> None:
    client = Client()
    response = hosted_post(
        client,
        form,
        email="ada@example.com",
        name="Ada",
        org="Engines",
        size="12",
        consent="yes",
        utm_source="newsletter",
        utm_campaign="spring",
        gclid="g-1",
        landing_page="https://site.example/demo",
    )
    assert response.status_code == 200 and "be in touch" in response.content.decode()
    lead = Lead.objects.get(email_normalized="ada@example.com")
    assert (lead.first_name, lead.company, lead.custom["team_size"], lead.source) == (
        "Ada",
        "Engines",
        12,
        form.source,
    )
    consent = Consent.objects.get(lead=lead)
    assert consent.state == "granted" and consent.text_shown == CONSENT
    submission = Submission.objects.get(lead=lead)
    assert submission.channel == "form" and submission.payload["consent"]["email"]["text"] == CONSENT
    touch = lead.first_touch
    assert touch is not None and (touch.utm_source, touch.gclid, touch.landing_page) == (
        "newsletter",
        "g-1",
        "https://site.example/demo",
    )
    capture = lead.activities.get(kind=ActivityKind.CAPTURE)
    assert capture.payload["utm_campaign"] == "spring"
    assert VISITOR_COOKIE in response.cookies


def test_missing_required_field_is_shown_again_without_a_lead(form: WebForm) -> None:
    response = hosted_post(Client(), form, email="ada@example.com")
    assert "First name is required." in response.content.decode()
    assert 'value="ada@example.com"' in response.content.decode()
    assert not Lead.objects.exists()


def test_redirect_after_submit(form: WebForm) -> None:
    form.redirect_url = "https://site.example/thanks"
    form.save()
    response = hosted_post(Client(), form, email="ada@example.com", name="Ada")
    assert response.status_code == 302 and response["Location"] == "https://site.example/thanks"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"lf_hp": "http://spam.example"}, "honeypot"),
        ({"lf_t": "forged"}, "No valid form token"),
    ],
)
def test_spam_is_kept_in_the_spam_log(form: WebForm, data: dict[str, str], reason: str) -> None:
    response = hosted_post(Client(), form, email="bot@example.com", name="Bot", **data)
    assert "could not be accepted" in response.content.decode()
    post = FormPost.objects.get()
    assert reason in post.spam_reason and post.data["email"] == "bot@example.com"
    assert not Lead.objects.exists()


def test_too_fast_is_spam(form: WebForm) -> None:
    form.min_fill_seconds = 30
    form.save()
    Client().post(
        f"/f/{form.key}/", {"lf_t": token(form, seconds_ago=1), "email": "a@example.com", "name": "A"}
    )
    assert "faster than the minimum" in FormPost.objects.get().spam_reason


def test_rate_limit_per_ip(form: WebForm) -> None:
    form.rate_limit_per_hour = 2
    form.save()
    for n in range(3):
        hosted_post(Client(), form, email=f"p{n}@example.com", name="P")
    assert Lead.objects.count() == 2
    assert "posts from this IP" in FormPost.objects.exclude(spam_reason="").get().spam_reason


def test_progressive_profiling_skips_known_fields_for_a_recognised_visitor(form: WebForm) -> None:
    client = Client()
    hosted_post(client, form, email="ada@example.com", name="Ada")
    html = client.get(f"/f/{form.key}/").content.decode()
    assert 'name="name"' not in html and 'name="email"' not in html
    assert 'name="org"' in html
    hosted_post(client, form, org="Engines")
    lead = Lead.objects.get()
    assert lead.company == "Engines" and lead.first_name == "Ada"
    stranger = Client().get(f"/f/{form.key}/").content.decode()
    assert 'name="name"' in stranger


def api_post(form: WebForm, body: Any, origin: str = "http://partner.example") -> Any:
    return Client().post(
        f"/api/v1/forms/{form.key}/submissions",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Origin": origin},
    )


def test_embed_api_is_cors_limited_to_allowed_origins(form: WebForm) -> None:
    client = Client()
    allowed = client.get(f"/api/v1/forms/{form.key}", headers={"Origin": "http://partner.example"})
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "http://partner.example"
    assert [f["name"] for f in allowed.json()["fields"]] == ["email", "name", "org", "size"]
    preflight = client.options(
        f"/api/v1/forms/{form.key}/submissions",
        headers={"Origin": "http://partner.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204 and "POST" in preflight["Access-Control-Allow-Methods"]
    other = client.get(f"/api/v1/forms/{form.key}", headers={"Origin": "http://evil.example"})
    assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other
    assert api_post(form, {"email": "x@example.com"}, origin="http://evil.example").status_code == 403


def test_embed_api_submission_answers_201_422_and_400(form: WebForm) -> None:
    ok = api_post(form, {"lf_t": token(form), "email": "ada@example.com", "name": "Ada"})
    assert ok.status_code == 201 and ok.json()["thank_you"] == form.thank_you and ok.json()["visitor"]
    invalid = api_post(form, {"lf_t": token(form), "email": "ada@example.com"})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "name"]
    bad_email = api_post(form, {"lf_t": token(form), "email": "not-an-email", "name": "X"})
    assert bad_email.status_code == 422
    assert Submission.objects.filter(status="quarantined").count() == 1
    spam = api_post(form, {"lf_t": token(form), "lf_hp": "x", "email": "b@example.com", "name": "B"})
    assert spam.status_code == 400 and FormPost.objects.exclude(spam_reason="").count() == 1
    recognised = Client().get(f"/api/v1/forms/{form.key}", {"visitor": ok.json()["visitor"]})
    assert [f["name"] for f in recognised.json()["fields"]] == ["org", "size"]


def test_ab_variants_split_traffic_and_report_submission_rate(form: WebForm) -> None:
    web_form_update(
        form=form,
        values={
            "fields": form.fields,
            "variants": [
                {"name": "A", "weight": 1, "title": "Book a demo", "field_names": []},
                {
                    "name": "B",
                    "weight": 1,
                    "title": "Talk to us",
                    "submit_label": "Go",
                    "field_names": ["email", "name"],
                },
            ],
        },
        actor=None,
    )
    a, b = FormVariant.objects.order_by("pk")
    seen = {form_render(form=form).variant for _ in range(40)}
    assert seen == {a, b}
    rendered_b = next(r for r in (form_render(form=form) for _ in range(40)) if r.variant == b)
    assert rendered_b.title == "Talk to us" and [f.name for f in rendered_b.fields] == ["email", "name"]
    api_post(form, {"lf_t": token(form, variant=b.pk), "email": "ada@example.com", "name": "Ada"})
    stats = {row["variant"].name: row for row in form_variant_stats(form=form)}
    b.refresh_from_db()
    assert stats["B"]["submissions"] == 1 and stats["A"]["submissions"] == 0
    assert stats["B"]["rate"] == pytest.approx(1 / b.views)


def test_builder_rejects_a_form_without_an_identifying_field(form: WebForm) -> None:
    from leadflow.capture.web_forms import FormConfigError

    with pytest.raises(FormConfigError) as err:
        web_form_update(
            form=form,
            values={"fields": [{"name": "n", "label": "N", "type": "text", "maps_to": "first_name"}]},
            actor=None,
        )
    assert "email or phone" in err.value.errors["fields"]


def test_rate_limit_reads_the_visitor_address_behind_a_trusted_proxy(form: WebForm, settings: Any) -> None:
    settings.LEADFLOW_TRUSTED_PROXIES = 1
    form.rate_limit_per_hour = 1
    form.save()
    for visitor in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
        Client().post(
            f"/f/{form.key}/",
            {"lf_t": token(form), "email": f"{visitor}@example.com", "name": "V"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.7, {visitor}",
        )
    assert Lead.objects.count() == 2
    assert FormPost.objects.exclude(spam_reason="").get().ip == "203.0.113.1"
