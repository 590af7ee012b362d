"""A real SMTP server (aiosmtpd on 127.0.0.1) and helpers to build leads, templates and campaigns."""

import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from leadflow.leads.models import ConsentChannel, ConsentState, Lead
from leadflow.leads.services import consent_record
from leadflow.nurture.models import NurtureCampaign, Template
from leadflow.nurture.services import campaign_save, template_save
from tests.cli.conftest import child_env  # noqa: F401 - the killed-worker test's fixture


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Inbox:
    """Collects accepted messages; `refuse` rejects recipients, `hold` blocks DATA until released."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = False
    settings.LEADFLOW_NURTURE_QUIET_HOURS = "off"
    settings.LEADFLOW_BASE_URL = "http://testserver"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def make_lead(db: None) -> Callable[..., Lead]:
    def make(email: str = "jane@example.com", *, opt_in: bool = True, **fields: Any) -> Lead:
        fields.setdefault("first_name", "Jane")
        lead = Lead.objects.create(email=email, email_normalized=email.lower(), **fields)
        if opt_in:
            consent_record(lead=lead, channel=ConsentChannel.EMAIL, state=ConsentState.GRANTED, method="test")
        return lead

    return make


@pytest.fixture
def email_template(db: None) -> Template:
    return template_save(
        values={
            "name": "Welcome",
            "channel": "email",
            "subject": 'Hello {{ lead.first_name | "there" }}',
            "text": 'Hi {{ lead.first_name | "there" }} from {{ owner.first_name | "the team" }}. '
            "{{ unsubscribe_url }}",
            "html": '<p>Hi {{ lead.first_name | "there" }}</p><a href="https://example.com/guide">Guide</a>',
        },
        actor=None,
    )


@pytest.fixture
def make_campaign(db: None) -> Callable[..., NurtureCampaign]:
    def make(steps: list[dict[str, Any]], **values: Any) -> NurtureCampaign:
        values.setdefault("name", "Drip")
        values.setdefault("status", "active")
        return campaign_save(values={"steps": steps, **values}, actor=None)

    return make
