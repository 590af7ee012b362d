"""A real `leadflow worker` killed in the middle of an SMTP transaction: nothing sent twice, nothing skipped.

The SMTP server holds the first message's DATA until the worker is killed, so the message is never
accepted (the client never saw 250). The lease on the killed worker's enrollments runs out, the
watchdog on a second worker resumes them, and every step is delivered exactly once.
"""

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.cli.conftest import django_eval, leadflow
from tests.cli.test_processes import start
from tests.nurture.conftest import free_port

LEADS, STEPS = 5, 2


class HoldingInbox:
    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.dropped = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message_id = message_from_bytes(envelope.content)["Message-ID"]
        if not self.arrived.is_set():
            self.arrived.set()
            try:
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client disconnects
                self.dropped += 1
                raise
            if server.transport is None or server.transport.is_closing():
                self.dropped += 1
                return "451 Client went away"
        self.accepted.append(message_id)
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Iterator[tuple[HoldingInbox, int]]:
    handler = HoldingInbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    handler.release.set()
    controller.stop()


SETUP = """
from leadflow.leads.models import Lead
from leadflow.leads.services import consent_record
from leadflow.nurture.services import campaign_save, leads_enroll, template_save
values = {"name": "T", "channel": "email", "subject": "Hi", "text": "Hello {{ lead.first_name }}"}
template = template_save(values=values, actor=None)
steps = [{"type": "email", "template_id": template.pk}] * %(steps)d
campaign = campaign_save(values={"name": "C", "status": "active", "steps": steps}, actor=None)
ids = []
for i in range(%(leads)d):
    lead = Lead.objects.create(first_name=f"L{i}", email=f"l{i}@example.com")
    consent_record(lead=lead, channel="email", state="granted", method="test")
    ids.append(lead.pk)
print(leads_enroll(campaign=campaign, lead_ids=ids, reason="test"))
"""


def test_killed_worker_neither_duplicates_nor_skips(
    inbox: tuple[HoldingInbox, int], child_env: dict[str, str], tmp_path: Path
) -> None:
    handler, port = inbox
    env = child_env | {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "LEADFLOW_NURTURE_LEASE_SECONDS": "3",
        "LEADFLOW_NURTURE_WATCHDOG_SECONDS": "1",
        "LEADFLOW_NURTURE_QUIET_HOURS": "off",
        "LEADFLOW_NURTURE_MAX_PER_DAY": "0",
        # One connection: only the held message is in flight when the worker dies. With several, messages
        # accepted just before the kill, not yet in the ledger, would go again (with the same Message-ID).
        "LEADFLOW_NURTURE_SMTP_CONNECTIONS": "1",
    }
    leadflow("migrate", "--no-input", "-v", "0", env=env)
    assert django_eval(SETUP % {"steps": STEPS, "leads": LEADS}, env=env) == str(LEADS)

    first = start(["worker", "--interval", "0.2"], env, tmp_path / "worker1.log")
    try:
        assert handler.arrived.wait(60), (tmp_path / "worker1.log").read_text()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    handler.release.set()

    second = start(["worker", "--interval", "0.2"], env, tmp_path / "worker2.log")
    try:
        deadline = time.monotonic() + 90
        while len(handler.accepted) < LEADS * STEPS and time.monotonic() < deadline:
            assert second.poll() is None, (tmp_path / "worker2.log").read_text()
            time.sleep(0.3)
        time.sleep(2)  # anything sent twice would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)

    assert handler.dropped == 1, handler.accepted
    assert len(handler.accepted) == LEADS * STEPS, (tmp_path / "worker2.log").read_text()
    assert len(set(handler.accepted)) == LEADS * STEPS
    statuses = django_eval(
        "from leadflow.nurture.models import Delivery\n"
        "print(sorted(set(Delivery.objects.values_list('status', flat=True))), Delivery.objects.count(),"
        " max(Delivery.objects.values_list('attempts', flat=True)))",
        env=env,
    )
    assert statuses == f"['sent'] {LEADS * STEPS} 2"
