"""The optional DNS deliverability check, against a real DNS server on 127.0.0.1 (never the internet)."""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from django.test import Client

from leadflow.access.models import User
from leadflow.capture.services import lead_capture
from leadflow.hygiene.deliverability import domain_deliverability, resolver_for
from leadflow.hygiene.models import EmailDomainCheck
from leadflow.hygiene.selectors import lead_quality

# What the local server answers: name → {record type: records}; names not here do not exist.
ZONE = {
    "acme.example.": {"MX": ["10 mx1.acme.example.", "20 mx2.acme.example."]},
    "parked.example.": {"MX": ["0 ."]},  # RFC 7505 null MX: takes no mail
    "webonly.example.": {"A": ["93.184.215.14"], "TXT": ['"v=spf1 -all"']},
}


class DnsServer:
    """A tiny authoritative DNS server over UDP, answering from ZONE; counts the queries it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.queries = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            self.queries += 1
            response = dns.message.make_response(query)
            question = query.question[0]
            records = ZONE.get(question.name.to_text())
            if records is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                kind = dns.rdatatype.to_text(question.rdtype)
                if kind in records:
                    response.answer.append(
                        dns.rrset.from_text_list(question.name, 300, "IN", kind, records[kind])
                    )
            self.sock.sendto(response.to_wire(), peer)


@pytest.fixture
def dns_server(settings: Any) -> Iterator[DnsServer]:
    server = DnsServer()
    server.thread.start()
    settings.LEADFLOW_EMAIL_DNS_CHECK = True
    settings.LEADFLOW_EMAIL_DNS_NAMESERVERS = f"127.0.0.1:{server.port}"
    settings.LEADFLOW_EMAIL_DNS_TIMEOUT = 2
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    try:
        yield server
    finally:
        server.sock.close()


def test_the_domain_answers_decide(dns_server: DnsServer) -> None:
    resolver = resolver_for(nameservers=f"127.0.0.1:{dns_server.port}", timeout=2)
    assert domain_deliverability("acme.example", resolver=resolver) == (
        True,
        "Mail servers: mx1.acme.example, mx2.acme.example.",
    )
    assert domain_deliverability("parked.example", resolver=resolver) == (
        False,
        "The domain name parked.example does not accept email.",
    )
    assert domain_deliverability("webonly.example", resolver=resolver) == (
        False,
        "The domain name webonly.example does not send email.",
    )
    assert domain_deliverability("nowhere.example", resolver=resolver) == (
        False,
        "The domain name nowhere.example does not exist.",
    )


def test_a_silent_resolver_is_unknown_never_undeliverable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        resolver = resolver_for(nameservers=f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        deliverable, detail = domain_deliverability("acme.example", resolver=resolver)
    assert deliverable is None and detail == "DNS did not answer (timeout)."


@pytest.mark.django_db
def test_captured_leads_get_their_domain_checked_once_and_shown(
    dns_server: DnsServer,
    sales_team: Any,
    django_capture_on_commit_callbacks: Any,
    client: Client,
    make_user: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        good = lead_capture(payload={"email": "ann@acme.example"}).lead
        bad = lead_capture(payload={"email": "bob@parked.example"}).lead
        lead_capture(payload={"email": "carl@gmail.com"})  # free mail: known to take mail, not asked
    assert good is not None and bad is not None
    checks = dict(EmailDomainCheck.objects.values_list("domain", "deliverable"))
    assert checks == {"acme.example": True, "parked.example": False}
    asked = dns_server.queries
    with django_capture_on_commit_callbacks(execute=True):
        lead_capture(payload={"email": "dora@acme.example"})  # checked lately: not asked again
    assert dns_server.queries == asked
    assert lead_quality(lead=good).email_deliverable is True
    quality = lead_quality(lead=bad)
    assert quality.warnings == [
        "The email address cannot receive mail: The domain name parked.example does not accept email."
    ]
    admin: User = make_user("boss", role="admin")
    client.force_login(admin)
    page = client.get(f"/leads/{bad.pk}/hygiene/").content.decode()
    assert "Domain takes no mail" in page and "does not accept email" in page


@pytest.mark.django_db
def test_off_by_default_nothing_is_asked(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    assert settings.LEADFLOW_EMAIL_DNS_CHECK is False
    with django_capture_on_commit_callbacks(execute=True):
        lead_capture(payload={"email": "ann@acme.example"})
    assert not EmailDomainCheck.objects.exists()
