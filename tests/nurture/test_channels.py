"""SMS through a Twilio-compatible HTTP server and the file provider; bounce messages suppress addresses."""

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from leadflow.leads.models import ConsentChannel, ConsentState, Lead
from leadflow.leads.services import consent_record
from leadflow.nurture.models import Delivery, DeliveryStatus, Enrollment, NurtureCampaign, Suppression
from leadflow.nurture.services import bounce_process, enrollments_run, leads_enroll, template_save

pytestmark = pytest.mark.django_db


class FakeTwilio(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        FakeTwilio.received.append(
            {
                "path": self.path,
                "form": parse_qs(body),
                "auth": self.headers["Authorization"],
                "key": self.headers["I-Twilio-Idempotency-Token"],
            }
        )
        self.send_response(FakeTwilio.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"sid": f"SM{len(FakeTwilio.received)}"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def twilio(settings: Any) -> Iterator[type[FakeTwilio]]:
    FakeTwilio.received, FakeTwilio.status = [], 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LEADFLOW_SMS_PROVIDER = "twilio"
    settings.LEADFLOW_SMS_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.LEADFLOW_SMS_ACCOUNT_SID, settings.LEADFLOW_SMS_AUTH_TOKEN = "AC123", "secret"
    settings.LEADFLOW_SMS_FROM = "+15550001111"
    settings.LEADFLOW_NURTURE_QUIET_HOURS = "off"
    yield FakeTwilio
    server.shutdown()


@pytest.fixture
def sms_campaign(db: None, make_campaign: Callable[..., NurtureCampaign]) -> NurtureCampaign:
    template = template_save(
        values={"name": "SMS", "channel": "sms", "text": 'Hi {{ lead.first_name | "you" }}!'}, actor=None
    )
    return make_campaign([{"type": "sms", "template_id": template.pk}])


def sms_lead(make_lead: Callable[..., Lead]) -> Lead:
    lead = make_lead(phone_e164="+4915112345678")
    consent_record(lead=lead, channel=ConsentChannel.SMS, state=ConsentState.GRANTED, method="test")
    return lead


def test_twilio_compatible_provider(
    twilio: type[FakeTwilio], sms_campaign: NurtureCampaign, make_lead: Callable[..., Lead]
) -> None:
    lead = sms_lead(make_lead)
    leads_enroll(campaign=sms_campaign, lead_ids=[lead.pk], reason="t")
    enrollments_run()
    [request] = twilio.received
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["form"] == {"To": ["+4915112345678"], "From": ["+15550001111"], "Body": ["Hi Jane!"]}
    assert request["key"] == Delivery.objects.get().key
    assert Delivery.objects.get().message_id == "SM1"


def test_provider_errors_retry_and_client_errors_suppress(
    twilio: type[FakeTwilio], sms_campaign: NurtureCampaign, make_lead: Callable[..., Lead]
) -> None:
    lead = sms_lead(make_lead)
    leads_enroll(campaign=sms_campaign, lead_ids=[lead.pk], reason="t")
    twilio.status = 503
    enrollments_run()
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert Enrollment.objects.get().attempts == 1
    twilio.status = 400
    enrollments_run(now=Enrollment.objects.get().due_at)
    assert Delivery.objects.get().status == DeliveryStatus.BOUNCED
    assert Suppression.objects.filter(channel="sms", address="+4915112345678").exists()


def test_file_provider(
    settings: Any, tmp_path: Path, sms_campaign: NurtureCampaign, make_lead: Callable[..., Lead]
) -> None:
    settings.LEADFLOW_SMS_PROVIDER, settings.LEADFLOW_SMS_FILE = "file", str(tmp_path / "sms.jsonl")
    settings.LEADFLOW_NURTURE_QUIET_HOURS = "off"
    lead = sms_lead(make_lead)
    leads_enroll(campaign=sms_campaign, lead_ids=[lead.pk], reason="t")
    enrollments_run()
    [line] = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["body"] == "Hi Jane!"


DSN = b"""From: MAILER-DAEMON@mx.example.net
To: leadflow@localhost
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B--
"""


def test_bounce_message_suppresses_the_address(db: None) -> None:
    assert bounce_process(raw=DSN) == ["gone@example.com"]
    assert Suppression.objects.get().reason == "bounce"
    assert bounce_process(raw=DSN) == ["gone@example.com"]
    assert Suppression.objects.count() == 1
