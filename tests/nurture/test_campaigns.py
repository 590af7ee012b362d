"""Campaigns end to end against a real SMTP server: sends, waits, branches, consent, caps, failures."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from leadflow.leads.models import Consent, ConsentState, Lead, Stage, Task
from leadflow.nurture.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    NurtureCampaign,
    Suppression,
    Template,
)
from leadflow.nurture.services import enrollments_run, leads_enroll, suppress
from leadflow.routing.models import Notification
from tests.nurture.conftest import Inbox, free_port

pytestmark = pytest.mark.django_db
MakeLead = Callable[..., Lead]
MakeCampaign = Callable[..., NurtureCampaign]


def later(minutes: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_three_steps_personalised_with_headers_and_tracking(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign
) -> None:
    lead = make_lead(first_name="")
    campaign = make_campaign(
        [
            {"type": "email", "template_id": email_template.pk},
            {"type": "wait", "minutes": 60},
            {"type": "task", "title": "Call the lead"},
        ]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="test")
    enrollments_run()
    [message] = smtp.to("jane@example.com")
    assert message["Subject"] == "Hello there"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().startswith("<http://testserver/n/p/")
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in message.walk()
        if not p.is_multipart()
    }
    assert "Hi there from the team." in parts["text/plain"]
    assert "http://testserver/n/c/" in parts["text/html"] and "/n/o/" in parts["text/html"]
    enrollment = Enrollment.objects.get()
    assert enrollment.step == 1 and enrollment.due_at > timezone.now()
    enrollments_run(now=later(61))
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED
    assert Task.objects.filter(lead=lead, title="Call the lead").exists()
    assert len(smtp.messages) == 1


def test_a_step_is_never_sent_twice(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign
) -> None:
    lead = make_lead()
    campaign = make_campaign(
        [{"type": "email", "template_id": email_template.pk}, {"type": "wait", "minutes": 5}]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="test")
    enrollments_run()
    # A retried run that finds the step not yet recorded as done (a crash after sending) must not resend.
    Enrollment.objects.update(step=0, due_at=timezone.now())
    enrollments_run()
    assert len(smtp.messages) == 1
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_open_pixel_moves_the_branch(
    *,
    smtp: Inbox,
    make_lead: MakeLead,
    email_template: Template,
    make_campaign: MakeCampaign,
    client: Client,
    settings: Any,
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    lead = make_lead()
    campaign = make_campaign(
        [
            {"type": "email", "template_id": email_template.pk},
            {
                "type": "wait",
                "minutes": 1440,
                "until_condition": {"field": "opened", "op": "eq", "value": True},
            },
            {
                "type": "branch",
                "condition": {"field": "opened", "op": "eq", "value": True},
                "then": 4,
                "else": 5,
            },
            {"type": "update", "field": "product_interest", "value": "engaged"},
        ]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="test")
    enrollments_run()
    html = (
        next(p for p in smtp.messages[0].walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    pixel = html.split('src="http://testserver')[1].split('"')[0]
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.get(pixel)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    lead.refresh_from_db()
    assert lead.product_interest == "engaged"
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED
    assert lead.activities.filter(payload__event="email_opened").count() == 1


def test_click_redirects_and_records(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, client: Client
) -> None:
    lead = make_lead()
    leads_enroll(
        campaign=make_campaign([{"type": "email", "template_id": email_template.pk}]),
        lead_ids=[lead.pk],
        reason="t",
    )
    enrollments_run()
    html = (
        next(p for p in smtp.messages[0].walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    link = html.split('href="http://testserver')[1].split('"')[0].replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 302 and response["Location"] == "https://example.com/guide"
    delivery = Delivery.objects.get()
    assert delivery.clicked_at and delivery.opened_at
    assert client.get(link.split("?")[0] + "?u=forged").status_code == 404


def test_one_click_unsubscribe_stops_later_sends(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, client: Client
) -> None:
    lead = make_lead()
    campaign = make_campaign(
        [
            {"type": "email", "template_id": email_template.pk},
            {"type": "wait", "minutes": 10},
            {"type": "email", "template_id": email_template.pk},
        ]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="t")
    enrollments_run()
    url = smtp.messages[0]["List-Unsubscribe"].strip().strip("<>").removeprefix("http://testserver")
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Consent.objects.get(lead=lead).state == ConsentState.DENIED
    enrollments_run(now=later(11))
    assert len(smtp.messages) == 1
    skipped = Delivery.objects.get(step=2)
    assert skipped.status == DeliveryStatus.SKIPPED and "opt-in" in skipped.error
    assert Delivery.objects.get(step=0).unsubscribed_at is not None


def test_preference_page_sets_channels(make_lead: MakeLead, client: Client) -> None:
    from leadflow.nurture.services import lead_token

    lead = make_lead()
    url = f"/n/p/{lead_token(lead.pk)}"
    assert "Send me Email messages" in client.get(url).content.decode()
    client.post(url, {"sms": "on"})
    states = dict(Consent.objects.filter(lead=lead).values_list("channel", "state"))
    assert states == {"email": ConsentState.DENIED, "sms": ConsentState.GRANTED}


def test_suppressed_and_unconsented_addresses_are_never_sent(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign
) -> None:
    bounced = make_lead("gone@example.com")
    never_asked = make_lead("quiet@example.com", opt_in=False)
    suppress(channel="email", address="GONE@example.com", reason="bounce")
    leads_enroll(
        campaign=make_campaign([{"type": "email", "template_id": email_template.pk}]),
        lead_ids=[bounced.pk, never_asked.pk],
        reason="t",
    )
    enrollments_run()
    assert smtp.messages == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SKIPPED}


def test_refused_recipient_is_suppressed(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign
) -> None:
    lead = make_lead("nobody@example.com")
    smtp.refuse.add("nobody@example.com")
    leads_enroll(
        campaign=make_campaign([{"type": "email", "template_id": email_template.pk}]),
        lead_ids=[lead.pk],
        reason="t",
    )
    enrollments_run()
    assert Delivery.objects.get().status == DeliveryStatus.BOUNCED
    assert Suppression.objects.filter(address="nobody@example.com", reason="bounce").exists()


def test_quiet_hours_in_the_lead_time_zone(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, settings: Any
) -> None:
    settings.LEADFLOW_NURTURE_QUIET_HOURS = "21-8"
    lead = make_lead(timezone="Asia/Tokyo")
    leads_enroll(
        campaign=make_campaign([{"type": "email", "template_id": email_template.pk}]),
        lead_ids=[lead.pk],
        reason="t",
    )
    two_am_tokyo = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)  # 02:00 in Tokyo
    Enrollment.objects.update(due_at=two_am_tokyo)
    enrollments_run(now=two_am_tokyo)
    assert smtp.messages == []
    assert Enrollment.objects.get().due_at == dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC)  # 08:00 Tokyo
    enrollments_run(now=dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC))
    assert len(smtp.messages) == 1


def test_frequency_cap_across_campaigns(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, settings: Any
) -> None:
    settings.LEADFLOW_NURTURE_MAX_PER_DAY = 2
    lead = make_lead()
    for name in ("A", "B", "C"):
        leads_enroll(
            campaign=make_campaign([{"type": "email", "template_id": email_template.pk}], name=name),
            lead_ids=[lead.pk],
            reason="t",
        )
    enrollments_run()
    assert len(smtp.messages) == 2
    waiting = Enrollment.objects.get(state=EnrollmentState.ACTIVE)
    assert "Frequency cap" in waiting.history[-1]["note"]
    enrollments_run(now=later(24 * 60 + 1))
    assert len(smtp.messages) == 3


def test_smtp_down_retries_with_backoff_and_sends_once(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, settings: Any
) -> None:
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there
    lead = make_lead()
    leads_enroll(
        campaign=make_campaign([{"type": "email", "template_id": email_template.pk}]),
        lead_ids=[lead.pk],
        reason="t",
    )
    enrollments_run()
    enrollment = Enrollment.objects.get()
    first_retry = enrollment.due_at
    assert enrollment.attempts == 1 and "Connection" in enrollment.last_error
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    enrollments_run(now=first_retry)
    enrollment.refresh_from_db()
    assert enrollment.attempts == 2 and enrollment.due_at - first_retry > first_retry - timezone.now()
    settings.EMAIL_PORT = working_port
    enrollments_run(now=enrollment.due_at)
    assert len(smtp.messages) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 3
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED


def test_exit_goal_and_hand_off(
    smtp: Inbox, make_lead: MakeLead, email_template: Template, make_campaign: MakeCampaign, sales_team: Any
) -> None:
    converted = make_lead("won@example.com", stage=Stage.CUSTOMER)
    ready = make_lead("ready@example.com")
    campaign = make_campaign(
        [{"type": "handoff"}, {"type": "email", "template_id": email_template.pk}], exit_goals=["converted"]
    )
    leads_enroll(campaign=campaign, lead_ids=[converted.pk, ready.pk], reason="t")
    enrollments_run()
    assert Enrollment.objects.get(lead=converted).exit_reason == "converted"
    ready.refresh_from_db()
    assert ready.stage == Stage.SQL and ready.owner is not None
    assert len(smtp.messages) == 1


def test_double_opt_in_for_captured_consent(smtp: Inbox, settings: Any, client: Client) -> None:
    from django.test import TestCase

    from leadflow.capture.services import lead_capture
    from leadflow.nurture.services import segment_save

    settings.LEADFLOW_NURTURE_DOUBLE_OPT_IN = True
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    segment_save(values={"name": "All", "kind": "dynamic", "condition": {"all": []}}, actor=None)
    with TestCase.captureOnCommitCallbacks(execute=True):
        lead_capture(
            payload={"email": "opt@x.io", "consent": {"email": {"granted": True, "text": "News please"}}}
        )
    consent = Consent.objects.get(lead__email="opt@x.io")
    assert consent.state == ConsentState.PENDING
    [message] = smtp.to("opt@x.io")
    link = message.get_payload(decode=True).decode().split("Confirm: http://testserver")[1].split()[0]
    assert client.get(link).status_code == 200
    consent.refresh_from_db()
    assert consent.state == ConsentState.GRANTED and consent.method == "double opt-in"


def test_window_wait_list_step_and_notify(
    smtp: Inbox,
    make_lead: MakeLead,
    make_campaign: MakeCampaign,
    make_user: Callable[..., Any],
    *,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from leadflow.nurture.services import segment_save

    owner = make_user("olga")
    lead = make_lead(timezone="Europe/Berlin", owner=owner)
    vip = segment_save(values={"name": "VIP", "kind": "static"}, actor=None)
    window = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
    campaign = make_campaign(
        [
            {"type": "wait", "window": window},
            {"type": "list", "action": "add", "segment_id": vip.pk},
            {"type": "notify", "title": "Hot lead"},
        ]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="t")
    saturday_noon = dt.datetime(2026, 3, 7, 11, 0, tzinfo=dt.UTC)
    Enrollment.objects.update(due_at=saturday_noon)
    enrollments_run(now=saturday_noon)
    monday_nine_berlin = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
    assert Enrollment.objects.get().due_at == monday_nine_berlin
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with django_capture_on_commit_callbacks(execute=True):  # the notification's email goes by task
        enrollments_run(now=monday_nine_berlin)
    assert vip.memberships.filter(lead=lead, added_by="campaign").exists()
    assert Notification.objects.get(recipient=owner, lead=lead).title == "Hot lead"  # in the app
    assert "Hot lead" in smtp.to("olga@example.com")[0]["Subject"]
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED


def test_stage_and_score_triggers(make_lead: MakeLead, make_campaign: MakeCampaign) -> None:
    from leadflow.nurture.services import leads_refresh

    sql_campaign = make_campaign(
        [{"type": "wait", "minutes": 5}], name="SQL", trigger={"type": "stage_changed", "stage": "sql"}
    )
    hot_campaign = make_campaign(
        [{"type": "wait", "minutes": 5}], name="Hot", trigger={"type": "score_crossed", "score": 50}
    )
    cold = make_lead("cold@x.io", score=10)
    ready = make_lead("ready@x.io", stage=Stage.SQL, score=80)
    leads_refresh(lead_ids=[cold.pk, ready.pk])
    assert list(sql_campaign.enrollments.values_list("lead_id", flat=True)) == [ready.pk]
    assert list(hot_campaign.enrollments.values_list("lead_id", flat=True)) == [ready.pk]
    leads_refresh(lead_ids=[ready.pk])
    assert hot_campaign.enrollments.count() == 1  # enrolled once per campaign


def test_branch_takes_else_when_nothing_happened(
    smtp: Inbox, make_lead: MakeLead, make_campaign: MakeCampaign
) -> None:
    lead = make_lead()
    campaign = make_campaign(
        [
            {
                "type": "branch",
                "condition": {"field": "clicked", "op": "eq", "value": True},
                "then": 2,
                "else": 3,
            },
            {"type": "update", "field": "product_interest", "value": "clicked"},
            {"type": "update", "field": "stage", "value": "mql"},
        ]
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="t")
    enrollments_run()
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL and lead.product_interest == ""
    assert "did not hold → step 3" in Enrollment.objects.get().history[0]["note"]


def test_reply_to_a_campaign_email_exits_at_once_and_is_counted(
    *,
    smtp: Inbox,
    make_lead: MakeLead,
    email_template: Template,
    make_campaign: MakeCampaign,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from leadflow.capture.email_intake import email_ingest
    from leadflow.capture.models import EmailOutcome
    from leadflow.nurture.selectors import campaign_stats
    from leadflow.scoring.models import RuleKind, ScoringRule

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    ScoringRule.objects.create(
        name="Replied to an email",
        kind=RuleKind.ENGAGEMENT,
        condition={"field": "event", "op": "eq", "value": "email_replied"},
        points=15,
    )
    lead = make_lead()
    campaign = make_campaign(
        [
            {"type": "email", "template_id": email_template.pk},
            {"type": "wait", "minutes": 3 * 1440},
            {"type": "email", "template_id": email_template.pk},
        ],
        exit_goals=["replied"],
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk], reason="test")
    enrollments_run()
    [sent] = smtp.messages
    reply = (
        "From: Jane Doe <JANE@example.com>\r\nTo: team@ours.example\r\nSubject: Re: Hello Jane\r\n"
        f"Message-ID: <answer-1@example.com>\r\nIn-Reply-To: {sent['Message-ID']}\r\n\r\nYes, call me.\r\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        record = email_ingest(raw=reply)
    assert record.outcome == EmailOutcome.ACTIVITY and "reply to a campaign email" in record.reason
    enrollment = Enrollment.objects.get()
    assert enrollment.state == EnrollmentState.EXITED and enrollment.exit_reason == "replied"
    assert Delivery.objects.get().replied_at is not None
    assert campaign_stats(campaign=campaign).steps[0].replied == 1
    lead.refresh_from_db()
    assert lead.score == 15
    assert lead.activities.filter(payload__event="email_replied").count() == 1
    enrollments_run(now=later(3 * 1440 + 1))
    assert len(smtp.messages) == 1
