"""IMAP polling against a real IMAP server (pymap, in-memory backend) started by the test."""

import imaplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadflow.access.models import Team
from leadflow.capture.email_intake import route_poll
from leadflow.capture.models import EmailOutcome, InboundEmail, InboundRoute
from leadflow.leads.models import Channel, Lead, Source

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def imap_server() -> Iterator[int]:
    port = _free_port()
    binary = Path(sys.executable).parent / "pymap"
    process = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-tls",
            "dict",
            "--demo-user",
            "leads",
            "--demo-password",
            "secret",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_poll_turns_unseen_messages_into_leads_and_marks_them_seen(
    sales_team: Team, imap_server: int
) -> None:
    client = imaplib.IMAP4("127.0.0.1", imap_server)
    client.login("leads", "secret")
    client.append(
        "INBOX", None, None, b"From: Ivy <ivy@example.com>\r\nMessage-ID: <i1@x>\r\n\r\nCall me\r\n"
    )
    client.append("INBOX", None, None, b"Subject: from nobody\r\n\r\n?\r\n")
    source = Source.objects.create(name="IMAP inbox", channel=Channel.EMAIL)
    route = InboundRoute.objects.create(
        address="leads@ours.example",
        source=source,
        imap_host="127.0.0.1",
        imap_port=imap_server,
        imap_ssl=False,
        imap_user="leads",
        imap_password="secret",
    )

    summary = route_poll(route_id=route.pk)

    assert (summary.leads, summary.activities, summary.rejected) == (1, 0, 1)
    assert Lead.objects.get().source == source
    assert InboundEmail.objects.get(outcome=EmailOutcome.REJECTED).origin.startswith(
        "imap:leads@ours.example:"
    )
    client.select("INBOX")
    assert client.uid("SEARCH", "UNSEEN")[1] == [b""]  # nothing is fetched twice
    assert route_poll(route_id=route.pk).leads == 0
    client.logout()
