"""IMAP polling against a real IMAP server (pymap, in-memory backend) started by the test."""

import imaplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

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


def test_routes_are_set_up_in_the_ui_and_a_failing_mailbox_is_shown(
    sales_team: Team,
    imap_server: int,
    make_user: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    mailbox = imaplib.IMAP4("127.0.0.1", imap_server)
    mailbox.login("leads", "secret")
    mailbox.append("INBOX", None, None, b"From: Una <una@example.com>\r\nMessage-ID: <u1@x>\r\n\r\nHi\r\n")
    mailbox.logout()
    client = Client()
    client.force_login(make_user("boss", role="admin"))
    bad = client.post(
        "/inbound-routes/new", {"address": "not an address", "imap_host": "127.0.0.1", "imap_port": "0"}
    )
    assert bad.status_code == 422
    assert set(bad.context["errors"]) == {"address", "source", "imap_port", "imap_user"}
    assert not InboundRoute.objects.exists()

    fields = {
        "address": "Fair@Ours.example",
        "source": "Trade fair",
        "imap_host": "127.0.0.1",
        "imap_port": str(imap_server),
        "imap_user": "leads",
        "imap_password": "secret",
        "imap_folder": "INBOX",
        "is_active": "1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post("/inbound-routes/new", fields)
    assert saved.status_code == 302
    route = InboundRoute.objects.get()
    assert route.address == "fair@ours.example" and route.source.channel == Channel.EMAIL
    assert route.last_polled_at is not None and route.last_error == ""  # polling started at once
    assert Lead.objects.get().source == route.source

    with django_capture_on_commit_callbacks(execute=True):
        edited = client.post(f"/inbound-routes/{route.pk}/", {**fields, "imap_password": ""})
    assert edited.status_code == 302
    route.refresh_from_db()
    assert route.imap_password == "secret"  # a blank password keeps the saved one

    route.imap_password = "wrong"
    route.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/inbound-routes/{route.pk}/poll").status_code == 302
    route.refresh_from_db()
    assert route.last_error.startswith("The mailbox refused (error): [AUTHENTICATIONFAILED]")
    page = client.get("/inbound-emails/").content.decode()
    assert "fair@ours.example" in page and "Failed" in page and route.last_error[:20] in page


def test_a_superseded_polling_chain_ends(sales_team: Team, settings: Any) -> None:
    from leadflow.capture.tasks import inbound_poll_task

    source = Source.objects.create(name="Box", channel=Channel.EMAIL)
    route = InboundRoute.objects.create(
        address="box@ours.example", source=source, imap_host="127.0.0.1", imap_port=_free_port(),
        imap_ssl=False, imap_user="u", imap_password="p", poll_chain="new",
    )  # fmt: skip
    inbound_poll_task.call(route.pk, "old")
    route.refresh_from_db()
    assert route.last_polled_at is None  # the old chain did nothing
    inbound_poll_task.call(route.pk, "new")
    route.refresh_from_db()
    assert route.last_polled_at is not None and route.last_error.startswith(
        "Could not connect (ConnectionRefusedError)"
    )
