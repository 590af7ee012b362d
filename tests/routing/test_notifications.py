"""Notifications: in-app rows, email through a real SMTP server, signed webhooks with retries."""

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from leadflow.access.models import Team
from leadflow.capture.services import lead_capture
from leadflow.routing.models import DeliveryStatus, Notification, WebhookDelivery
from leadflow.routing.notifications import notification_send, webhook_attempt, webhook_endpoint_set
from leadflow.routing.services import team_routing_update


class Inbox:
    """An aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    """A real SMTP server on a free local port, and Django mailing through it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield inbox
    controller.stop()


@dataclass
class Hook:
    """A local HTTP server that answers with the given statuses in turn, then 200, and keeps the requests."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def test_assignment_notifies_in_app_by_email_and_webhook(
    sales_team: Team,
    smtp: Inbox,
    hook: Hook,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    team_routing_update(team=sales_team, method="round_robin", sla_minutes=5)
    endpoint = webhook_endpoint_set(team=sales_team, url=hook.url)
    assert endpoint is not None
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_capture(payload={"email": "jane@acme.io", "first_name": "Jane", "company": "Acme"}).lead
    assert lead is not None and lead.owner is not None
    note = Notification.objects.get(recipient=lead.owner)
    assert note.title == "New lead: Jane" and note.emailed_at is not None

    (mail,) = smtp.messages
    assert mail.rcpt_tos == [lead.owner.email]
    text = mail.content.decode()
    assert "Subject: New lead: Jane" in text and f"/leads/{lead.pk}/" in text
    assert "Please respond by" in text

    (headers, body) = hook.requests[0]
    payload = json.loads(body)
    assert payload["event"] == "lead.assignment"
    assert payload["lead"]["id"] == lead.pk and payload["recipient"]["username"] == lead.owner.username
    assert payload["sla_due_at"] is not None
    expected = hmac.new(
        endpoint.secret.encode(), headers["X-Leadflow-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Leadflow-Signature"] == f"sha256={expected}"
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_webhook_retries_with_backoff_then_gives_up(
    sales_team: Team, hook: Hook, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LEADFLOW_WEBHOOK_ATTEMPTS = 3
    settings.LEADFLOW_WEBHOOK_RETRY_SECONDS = 10
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    webhook_endpoint_set(team=None, url=hook.url)
    rep = sales_team.members.first()
    assert rep is not None
    notification_send(recipient=rep, title="Hello")
    delivery = WebhookDelivery.objects.get()
    hook.statuses = [500, 503, 502]
    waits = [webhook_attempt(delivery_id=delivery.pk) for _ in range(3)]
    assert [w.total_seconds() if w else None for w in waits] == [10, 20, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (DeliveryStatus.FAILED, 3, 502)
    assert webhook_attempt(delivery_id=delivery.pk) is None and len(hook.requests) == 3  # done for good


def test_a_failed_attempt_is_retried_through_the_queue(
    sales_team: Team, hook: Hook, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    webhook_endpoint_set(team=None, url=hook.url)
    hook.statuses = [500]
    rep = sales_team.members.first()
    assert rep is not None
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(recipient=rep, title="Hello")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)


def test_unreachable_smtp_is_recorded(
    sales_team: Team, settings: Any, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    rep = sales_team.members.first()
    assert rep is not None
    with django_capture_on_commit_callbacks(execute=True):  # the task fails; the worker keeps its error
        notification_send(recipient=rep, title="Hello")
    note = Notification.objects.get()
    assert note.emailed_at is None and note.email_error


def test_bell_and_list_in_the_web_ui(sales_team: Team) -> None:
    rep = sales_team.members.order_by("id").first()
    assert rep is not None
    for title in ("First", "Second"):
        notification_send(recipient=rep, title=title)
    client = Client()
    client.force_login(rep)
    home = client.get("/").content.decode()
    assert 'aria-label="Notifications: 2 unread"' in home
    page = client.get("/notifications/").content.decode()
    assert page.index("Second") < page.index("First")
    client.post("/notifications/read/")
    assert 'aria-label="Notifications: 0 unread"' in client.get("/").content.decode()
    assert not Notification.objects.filter(read_at__isnull=True).exists()
