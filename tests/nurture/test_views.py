"""The Nurture screens: marketing builds segments, templates and campaigns; reps cannot reach them."""

from collections.abc import Callable
from email.header import decode_header, make_header
from typing import Any

import pytest
from django.test import Client

from leadflow.access.models import User
from leadflow.leads.models import Lead
from leadflow.nurture.models import Enrollment, NurtureCampaign, Segment, Template
from tests.nurture.conftest import Inbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(make_user: Callable[..., User], client: Client) -> Client:
    client.force_login(make_user("mia", role="marketing"))
    return client


def test_rep_gets_404_and_no_nav_entry(make_user: Callable[..., User], client: Client) -> None:
    client.force_login(make_user("rick", role="rep"))
    assert client.get("/nurture/").status_code == 404
    assert "Nurture" not in client.get("/").content.decode()


def test_unknown_placeholder_is_a_form_error(marketer: Client) -> None:
    response = marketer.post(
        "/nurture/templates/new/",
        {"name": "T", "channel": "email", "subject": "Hi", "text": "Hi {{ lead.nickname }}"},
    )
    assert response.status_code == 200
    assert "unknown placeholder lead.nickname" in response.content.decode()
    assert not Template.objects.exists()


def test_build_preview_test_send_enroll_and_stats(
    marketer: Client, make_lead: Callable[..., Lead], smtp: Inbox, settings: Any
) -> None:
    lead = make_lead(first_name="Zoë")
    response = marketer.post(
        "/nurture/templates/new/",
        {
            "name": "Hello",
            "channel": "email",
            "subject": "Hi {{ lead.first_name }}",
            "text": "Hello {{ lead.first_name }}",
            "html": "",
        },
    )
    template = Template.objects.get()
    assert response.status_code == 302
    page = marketer.get(f"/nurture/templates/{template.pk}/?lead={lead.pk}").content.decode()
    assert "Hello Zoë" in page
    marketer.post(f"/nurture/templates/{template.pk}/test/", {"lead": lead.pk, "to": "me@example.com"})
    [test] = smtp.to("me@example.com")
    assert str(make_header(decode_header(test["Subject"]))) == "[Test] Hi Zoë"

    marketer.post("/nurture/segments/new/", {"name": "VIP", "kind": "static"})
    segment = Segment.objects.get()
    marketer.post(f"/nurture/segments/{segment.pk}/add/", {"leads": f"{lead.email}\nnobody@x.io"})
    assert segment.memberships.count() == 1

    bad = marketer.post(
        "/nurture/campaigns/new/",
        {
            "name": "Drip",
            "status": "active",
            "trigger": '{"type": "manual"}',
            "steps": '[{"type": "teleport"}]',
        },
    )
    assert "step 1: type must be one of" in bad.content.decode()
    marketer.post(
        "/nurture/campaigns/new/",
        {
            "name": "Drip",
            "status": "active",
            "trigger": '{"type": "manual"}',
            "exit_goals": ["converted"],
            "steps": f'[{{"type": "email", "template_id": {template.pk}}}]',
        },
    )
    campaign = NurtureCampaign.objects.get()
    marketer.post(f"/nurture/campaigns/{campaign.pk}/enroll/", {"segment": segment.pk})
    assert Enrollment.objects.filter(campaign=campaign, lead=lead).exists()
    from leadflow.nurture.services import enrollments_run

    enrollments_run()
    page = marketer.get(f"/nurture/campaigns/{campaign.pk}/").content.decode()
    assert 'id="step-chart"' in page and "chart.umd.min.js" in page
    assert "<h2>Sent</h2><b>1</b>" in page


def test_failures_are_shown(
    marketer: Client, make_lead: Callable[..., Lead], smtp: Inbox, settings: Any, email_template: Template
) -> None:
    from leadflow.nurture.services import campaign_save, enrollments_run, leads_enroll
    from tests.nurture.conftest import free_port

    settings.EMAIL_PORT = free_port()
    campaign = campaign_save(
        values={
            "name": "Down",
            "status": "active",
            "steps": [{"type": "email", "template_id": email_template.pk}],
        },
        actor=None,
    )
    leads_enroll(campaign=campaign, lead_ids=[make_lead().pk], reason="t")
    enrollments_run()
    for url in ("/nurture/", f"/nurture/campaigns/{campaign.pk}/"):
        page = marketer.get(url).content.decode()
        assert "Connection refused" in page and "retrying" in page


def test_api_rejects_unknown_placeholder_with_422(api_with_scopes: Callable[..., Any]) -> None:
    client = api_with_scopes("admin")
    response = client.post("/nurture/templates", {"name": "T", "subject": "Hi", "text": "{{ lead.shoe }}"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]
    ok = client.post("/nurture/templates", {"name": "T", "subject": "Hi", "text": "Hi {{ lead.first_name }}"})
    assert ok.status_code == 201


def test_api_campaign_enroll_and_stats(
    api_with_scopes: Callable[..., Any], make_lead: Callable[..., Lead], email_template: Template
) -> None:
    client = api_with_scopes("admin")
    lead = make_lead()
    created = client.post(
        "/nurture/campaigns", {"name": "A", "status": "active", "steps": [{"type": "wait", "minutes": 5}]}
    )
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    assert client.post(f"/nurture/campaigns/{campaign_id}/enrollments", {"lead_ids": [lead.pk]}).json() == {
        "enrolled": 1
    }
    stats = client.get(f"/nurture/campaigns/{campaign_id}/stats").json()
    assert stats["totals"]["enrolled"] == 1 and stats["steps"][0]["label"] == "Wait 5 min"
    bad = client.post(
        "/nurture/campaigns",
        {"name": "B", "steps": [{"type": "branch", "condition": {}, "then": 1, "else": 1}]},
    )
    assert bad.status_code == 422 and "step 1" in bad.json()["detail"][0]["msg"]


def test_cli_stats_and_bounce(
    make_lead: Callable[..., Lead], email_template: Template, tmp_path: Any
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from leadflow.nurture.services import campaign_save
    from tests.nurture.test_channels import DSN

    campaign_save(
        values={"name": "CLI", "steps": [{"type": "email", "template_id": email_template.pk}]}, actor=None
    )
    out = StringIO()
    call_command("nurture", "stats", "CLI", stdout=out)
    assert "enrolled=0" in out.getvalue() and "1. Send email" in out.getvalue()
    (tmp_path / "dsn.eml").write_bytes(DSN)
    call_command("nurture", "bounce", str(tmp_path / "dsn.eml"), stdout=out)
    assert "Suppressed: gone@example.com" in out.getvalue()
