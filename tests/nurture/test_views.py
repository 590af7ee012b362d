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
        "/nurture/templates/new/", {"name": "T", "channel": "email", "subject": "Hi", "text": "Hi {{ lead.nickname }}"}
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
        {"name": "Hello", "channel": "email", "subject": "Hi {{ lead.first_name }}", "text": "Hello {{ lead.first_name }}", "html": ""},
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
        {"name": "Drip", "status": "active", "trigger": '{"type": "manual"}', "steps": '[{"type": "teleport"}]'},
    )
    assert "step 1: type must be one of" in bad.content.decode()
    marketer.post(
        "/nurture/campaigns/new/",
        {"name": "Drip", "status": "active", "trigger": '{"type": "manual"}', "exit_goals": ["converted"],
         "steps": f'[{{"type": "email", "template_id": {template.pk}}}]'},  # fmt: skip
    )
    campaign = NurtureCampaign.objects.get()
    marketer.post(f"/nurture/campaigns/{campaign.pk}/enroll/", {"segment": segment.pk})
    assert Enrollment.objects.filter(campaign=campaign, lead=lead).exists()
    from leadflow.nurture.services import enrollments_run

    enrollments_run()
    page = marketer.get(f"/nurture/campaigns/{campaign.pk}/").content.decode()
    assert 'id="step-chart"' in page and "chart.umd.min.js" in page
    assert "<h2>Sent</h2><b>1</b>" in page


def test_failures_are_shown(marketer: Client, make_lead: Callable[..., Lead], smtp: Inbox, settings: Any, email_template: Template) -> None:
    from leadflow.nurture.services import campaign_save, enrollments_run, leads_enroll
    from tests.nurture.conftest import free_port

    settings.EMAIL_PORT = free_port()
    campaign = campaign_save(values={"name": "Down", "status": "active", "steps": [{"type": "email", "template_id": email_template.pk}]}, actor=None)
    leads_enroll(campaign=campaign, lead_ids=[make_lead().pk], reason="t")
    enrollments_run()
    for url in ("/nurture/", f"/nurture/campaigns/{campaign.pk}/"):
        page = marketer.get(url).content.decode()
        assert "Connection refused" in page and "retrying" in page
