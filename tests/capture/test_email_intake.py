"""Email to lead: every message ends as a lead, an activity, or in the rejected log with its reason."""

import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.access.models import Team
from leadflow.capture.email_intake import email_ingest, emails_ingest_path
from leadflow.capture.email_parse import parse_email, signature_details
from leadflow.capture.models import EmailOutcome, InboundEmail, InboundRoute
from leadflow.capture.services import lead_capture
from leadflow.leads.models import Activity, ActivityKind, Channel, Lead, Source

pytestmark = pytest.mark.django_db

FIRST = b"""From: "Jane Doe" <Jane.Doe@Acme.example>
To: leads+fair@ours.example
Subject: Pricing for 50 seats
Message-ID: <first-1@acme.example>
Date: Mon, 1 Dec 2026 10:00:00 +0000
Content-Type: text/plain; charset=utf-8

Hi, we are interested in your product for 50 seats. Please call me.

Best regards,
Jane Doe
Head of Operations, Acme Widgets GmbH
Phone: +1 415 555 0142

On Fri, Nov 28, 2026 at 9:00 AM Sales <sales@ours.example> wrote:
> Thanks for visiting our booth!
> Here is our brochure.
"""

REPLY = b"""From: Someone Else <other@elsewhere.example>
To: leads+fair@ours.example
Subject: Re: Pricing for 50 seats
Message-ID: <reply-2@elsewhere.example>
In-Reply-To: <first-1@acme.example>
References: <first-1@acme.example>
Content-Type: text/plain

Forwarding to my colleague; we also want a demo.

> older text
"""


def message(**headers: str) -> bytes:
    msg = EmailMessage()
    for name, value in headers.items():
        if name != "body":
            msg[name.replace("_", "-")] = value
    msg.set_content(headers.get("body", "Hello, I would like a quote."))
    return msg.as_bytes()


@pytest.fixture
def route(sales_team: Team) -> InboundRoute:
    source = Source.objects.create(name="Trade fair inbox", channel=Channel.EMAIL)
    return InboundRoute.objects.create(address="leads+fair@ours.example", source=source)


def test_parse_strips_quotes_and_reads_the_signature() -> None:
    parsed = parse_email(FIRST)
    assert (parsed.sender_name, parsed.sender_address) == ("Jane Doe", "Jane.Doe@Acme.example")
    assert parsed.body == "Hi, we are interested in your product for 50 seats. Please call me."
    assert "Thanks for visiting" not in parsed.body and "Best regards" not in parsed.body
    assert parsed.phone == "+14155550142"
    assert (parsed.company, parsed.job_title) == ("Acme Widgets GmbH", "Head of Operations")
    assert parsed.message_id == "<first-1@acme.example>"
    assert "leads+fair@ours.example" in parsed.recipients


def test_signature_company_line_alone() -> None:
    assert signature_details("Cheers,\nBob\nGlobex Corporation\n+44 20 7946 0958", "US") == (
        "+442079460958",
        "Globex Corporation",
        "",
    )


def test_new_sender_becomes_a_lead_of_the_routes_source(route: InboundRoute) -> None:
    record = email_ingest(raw=FIRST, origin="test")
    assert record.outcome == EmailOutcome.LEAD and record.route == route
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email_normalized) == (
        "Jane",
        "Doe",
        "jane.doe@acme.example",
    )
    assert (lead.phone_e164, lead.company, lead.source) == ("+14155550142", "Acme Widgets GmbH", route.source)
    assert lead.extra["email_subject"] == "Pricing for 50 seats"
    assert lead.owner is not None  # routed by the intake flow
    assert record.submission is not None and record.submission.channel == Channel.EMAIL


def test_reply_threads_to_the_lead_and_known_sender_adds_an_activity(route: InboundRoute) -> None:
    email_ingest(raw=FIRST, origin="test")
    lead = Lead.objects.get()

    reply = email_ingest(raw=REPLY, origin="test")
    assert (reply.outcome, reply.lead) == (EmailOutcome.ACTIVITY, lead)
    assert "reply in a thread" in reply.reason
    again = email_ingest(raw=message(From="jane.doe@acme.example", Subject="One more thing"), origin="t")
    assert (again.outcome, again.lead) == (EmailOutcome.ACTIVITY, lead)
    assert Lead.objects.count() == 1
    emails = Activity.objects.filter(lead=lead, kind=ActivityKind.EMAIL).order_by("pk")
    assert [a.payload["subject"] for a in emails] == ["Re: Pricing for 50 seats", "One more thing"]
    assert emails[0].payload["body"] == "Forwarding to my colleague; we also want a demo."


def test_duplicates_automatic_mail_and_bad_senders_are_rejected_with_a_reason(route: InboundRoute) -> None:
    email_ingest(raw=FIRST, origin="a")
    duplicate = email_ingest(raw=FIRST, origin="b")
    bounce = email_ingest(raw=message(From="MAILER-DAEMON@ours.example", Subject="Undelivered"), origin="c")
    auto = email_ingest(raw=message(From="x@y.example", Auto_Submitted="auto-replied"), origin="d")
    nobody = email_ingest(raw=b"Subject: hi\n\nno sender at all", origin="e")
    invalid = email_ingest(raw=message(From="Weird <a@b@c>"), origin="f")
    assert duplicate.outcome == EmailOutcome.REJECTED and "Already received" in duplicate.reason
    assert "Automatic" in bounce.reason and "Automatic" in auto.reason
    assert "No sender" in nobody.reason
    assert invalid.outcome == EmailOutcome.REJECTED
    assert InboundEmail.objects.filter(outcome=EmailOutcome.REJECTED).count() == 5
    assert bytes(InboundEmail.objects.get(origin="e").raw) == b"Subject: hi\n\nno sender at all"


def test_invalid_lead_email_is_rejected_but_the_submission_is_kept(route: InboundRoute) -> None:
    record = email_ingest(raw=message(From="Bob <bob@localhost>"), origin="x")
    assert record.outcome == EmailOutcome.REJECTED
    assert record.submission is not None and "kept" in record.reason


def test_html_only_and_odd_encodings() -> None:
    raw = (
        b"From: =?iso-8859-1?q?J=FCrgen_Gro=DF?= <jg@example.de>\r\n"
        b"Subject: =?utf-8?b?QW5mcmFnZQ==?=\r\n"
        b"Content-Type: text/html; charset=x-unknown-charset\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<html><body><p>Guten Tag,</p><p>bitte um R=FCckruf.</p><blockquote>alt</blockquote></body></html>"
    )
    parsed = parse_email(raw)
    assert parsed.sender_name == "Jürgen Groß" and parsed.subject == "Anfrage"
    assert "Guten Tag" in parsed.body and "ckruf" in parsed.body


def test_ingest_from_eml_mbox_and_maildir(route: InboundRoute, tmp_path: Path) -> None:
    (tmp_path / "one.eml").write_bytes(message(From="a@one.example", To=route.address, Message_ID="<1@x>"))
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    box.add(message(From="b@two.example", To=route.address, Message_ID="<2@x>"))
    box.add(b"garbage without headers")
    box.flush()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(message(From="c@three.example", Message_ID="<3@x>"))
    maildir.flush()

    summary = emails_ingest_path(path=tmp_path / "one.eml")
    summary_mbox = emails_ingest_path(path=tmp_path / "inbox.mbox")
    summary_maildir = emails_ingest_path(path=tmp_path / "Maildir", route=route)
    assert (summary.leads, summary_mbox.leads, summary_mbox.rejected, summary_maildir.leads) == (1, 1, 1, 1)
    assert Lead.objects.filter(source=route.source).count() == 3


def test_cli_ingest_email(route: InboundRoute, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.eml").write_bytes(FIRST)
    (tmp_path / "b.eml").write_bytes(REPLY)
    call_command("ingest_email", str(tmp_path))
    assert "1 lead(s), 1 timeline activit(ies), 0 rejected." in capsys.readouterr().out


def test_known_lead_by_address_before_any_email(sales_team: Team) -> None:
    lead = lead_capture(payload={"email": "known@example.com"}).lead
    record = email_ingest(raw=message(From="KNOWN@example.com", Subject="Question"), origin="api")
    assert (record.outcome, record.lead) == (EmailOutcome.ACTIVITY, lead)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        st.builds(
            lambda head, body: head + b"\r\n\r\n" + body,
            st.sampled_from(
                [
                    b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=",
                    b"From: =?utf-8?q?=FF=FE?= <x@y.example>\r\nContent-Type: text/plain; charset=utf-99",
                    b"From: <>\r\nMessage-ID: <<<>>>\r\nIn-Reply-To: garbage",
                    b"From: x@y.example\r\nContent-Transfer-Encoding: base64",
                    b"\xff\xfe\x00From: x",
                ]
            ),
            st.binary(max_size=300),
        ),
    )
)
def test_any_bytes_end_as_lead_activity_or_rejected(sales_team: Team, raw: bytes) -> None:
    before = InboundEmail.objects.count()
    record = email_ingest(raw=raw, origin="fuzz")
    assert record.outcome in {EmailOutcome.LEAD, EmailOutcome.ACTIVITY, EmailOutcome.REJECTED}
    assert InboundEmail.objects.count() == before + 1
    assert record.outcome != EmailOutcome.REJECTED or record.reason
    assert not record.reason.startswith("Could not be processed"), record.reason  # handled, not a crash
