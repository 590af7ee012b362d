"""The embed snippet in a real browser: a page on another origin renders the form and posts cross-origin."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from pytest_django.live_server_helper import LiveServer

from leadflow.capture.channel_models import FormPost, WebForm
from leadflow.capture.web_forms import web_form_create, web_form_update
from leadflow.leads.models import Consent, Lead

CONSENT = "Email me product news; I can unsubscribe any time."


class PartnerSite:
    """A third-party site on its own origin, serving one page that embeds a leadflow form."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def partner() -> Iterator[PartnerSite]:
    site = PartnerSite()
    yield site
    site.server.shutdown()


@pytest.fixture
def embedded_form(partner: PartnerSite) -> WebForm:
    form = web_form_create(title="Get the report", actor=None)
    return web_form_update(
        form=form,
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
                    "name": "first_name",
                    "label": "First name",
                    "type": "text",
                    "required": True,
                    "maps_to": "first_name",
                },
                {
                    "name": "company",
                    "label": "Company",
                    "type": "text",
                    "required": False,
                    "maps_to": "company",
                },
            ],
            "consent_text": CONSENT,
            "allowed_origins": partner.origin,
            "min_fill_seconds": 0,
        },
        actor=None,
    )


def test_embedded_form_on_another_origin_captures_a_lead(
    browser: Browser, live_server: LiveServer, partner: PartnerSite, embedded_form: WebForm
) -> None:
    partner.html = (
        "<!doctype html><html lang=en><head><title>Partner</title><link rel=icon href='data:,'></head><body>"
        "<h1>Partner blog</h1><div id='signup'></div>"
        f"<script src='{live_server.url}/static/capture/leadflow-form.js' data-form='{embedded_form.key}' "
        "data-target='#signup' async></script></body></html>"
    )
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{partner.origin}/landing?utm_source=partner&utm_campaign=q4&gclid=click-1")

    page.get_by_label("Work email").fill("ada@example.com")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("First name is required.")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Company").fill("Engines")
    page.get_by_label(CONSENT).check()
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Thank you! We'll be in touch.")).to_be_visible()
    context.close()

    assert [e for e in errors if "status of 422" not in e] == []  # the first, incomplete post answers 422
    lead = Lead.objects.get(email_normalized="ada@example.com")
    assert (lead.first_name, lead.company, lead.source) == ("Ada", "Engines", embedded_form.source)
    touch = lead.first_touch
    assert touch is not None
    assert (touch.utm_source, touch.utm_campaign, touch.gclid) == ("partner", "q4", "click-1")
    assert touch.landing_page.startswith(f"{partner.origin}/landing")
    assert Consent.objects.get(lead=lead).text_shown == CONSENT
    assert not FormPost.objects.exclude(spam_reason="").exists()


def test_embed_refused_on_an_origin_the_form_does_not_allow(
    browser: Browser, live_server: LiveServer, partner: PartnerSite, embedded_form: WebForm
) -> None:
    embedded_form.allowed_origins = "https://elsewhere.example"
    embedded_form.save()
    partner.html = (
        "<!doctype html><html><body><div id='signup'></div>"
        f"<script src='{live_server.url}/static/capture/leadflow-form.js' data-form='{embedded_form.key}' "
        "data-target='#signup'></script></body></html>"
    )
    context = browser.new_context()
    page = context.new_page()
    with page.expect_console_message(lambda m: m.type in ("warning", "error")) as message:
        page.goto(f"{partner.origin}/")
    assert any(sign in message.value.text for sign in ("CORS", "Failed to fetch", "403"))
    expect(page.locator("#signup form")).to_have_count(0)
    context.close()


def test_hosted_page_works_with_javascript_disabled(
    browser: Browser, live_server: LiveServer, embedded_form: WebForm
) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    page.goto(f"/f/{embedded_form.key}/?utm_source=print")
    page.get_by_label("Work email").fill("grace@example.com")
    page.get_by_label("First name").fill("Grace")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("be in touch")
    context.close()
    lead = Lead.objects.get(email_normalized="grace@example.com")
    assert lead.first_touch is not None and lead.first_touch.utm_source == "print"


def test_snippet_takes_over_an_existing_form_on_another_origin(
    browser: Browser, live_server: LiveServer, partner: PartnerSite, embedded_form: WebForm
) -> None:
    partner.html = (
        "<!doctype html><html lang=en><head><title>Partner</title><link rel=icon href='data:,'></head><body>"
        "<form id='contact'><label>Email <input name='email' type='email'></label>"
        "<label>Name <input name='first_name'></label><button type='submit'>Contact us</button></form>"
        f"<script src='{live_server.url}/static/capture/leadflow-form.js' data-form='{embedded_form.key}' "
        "data-takeover='#contact'></script></body></html>"
    )
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{partner.origin}/pricing?utm_medium=cpc&msclkid=ms-9")
    expect(page.locator("#contact input[name='lf_t']")).to_have_count(1)  # the snippet has taken over
    page.get_by_label("Email").fill("linus@example.com")
    page.get_by_label("Name").fill("Linus")
    page.get_by_role("button", name="Contact us").click()
    expect(page.get_by_text("Thank you! We'll be in touch.")).to_be_visible()
    context.close()
    lead = Lead.objects.get(email_normalized="linus@example.com")
    assert lead.first_name == "Linus"
    assert lead.first_touch is not None
    assert (lead.first_touch.utm_medium, lead.first_touch.msclkid) == ("cpc", "ms-9")
