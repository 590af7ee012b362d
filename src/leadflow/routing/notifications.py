"""Notifications: in-app rows, email to the recipient, and signed outbound webhooks, sent through tasks.

Any app at or above routing (nurture's "notify the owner" step, for instance) calls notification_send or
notifications_send; delivery happens in tasks enqueued when the transaction commits, so a rolled-back
change never notifies anyone.
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.core.config import config_cached
from leadflow.core.db import bulk_insert
from leadflow.core.queue import enqueue_after_commit, enqueue_all
from leadflow.leads.models import Lead
from leadflow.routing.models import (
    DeliveryStatus,
    Notification,
    NotificationKind,
    WebhookDelivery,
    WebhookEndpoint,
)

SIGNATURE_HEADER = "X-Leadflow-Signature"
TIMESTAMP_HEADER = "X-Leadflow-Timestamp"


@dataclass
class Message:
    """One notification to send: to whom, what, about which lead, and which team's webhook gets it."""

    recipient: User
    title: str
    body: str = ""
    kind: str = NotificationKind.OTHER
    lead: Lead | None = None
    team_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def lead_url(lead_id: int) -> str:
    return settings.LEADFLOW_BASE_URL.rstrip("/") + reverse("web:lead_detail", args=[lead_id])


def notification_send(
    *,
    recipient: User,
    title: str,
    body: str = "",
    kind: str = NotificationKind.OTHER,
    lead: Lead | None = None,
    team_id: int | None = None,
    now: dt.datetime | None = None,
) -> Notification:
    """Notifies one person in the app, by email and through the webhooks (see notifications_send)."""
    message = Message(recipient=recipient, title=title, body=body, kind=kind, lead=lead, team_id=team_id)
    return notifications_send(messages=[message], now=now)[0]


def notifications_send(*, messages: Sequence[Message], now: dt.datetime | None = None) -> list[Notification]:
    """Stores the notifications and their webhook deliveries (a constant number of queries), and enqueues
    the emails and deliveries on commit. Emails go to recipients with an address when
    LEADFLOW_NOTIFY_EMAIL is on; webhooks go to the global endpoint and to the message's team endpoint."""
    if not messages:
        return []
    now = now or timezone.now()
    notifications = bulk_insert(
        [
            Notification(
                recipient=m.recipient,
                kind=m.kind,
                title=m.title[:200],
                body=m.body,
                lead=m.lead,
                created_at=now,
            )
            for m in messages
        ]
    )
    team_ids = {m.team_id for m in messages if m.team_id is not None}
    endpoints = [
        endpoint
        for endpoint in config_cached("routing.webhook_endpoints", _endpoints_load)
        if endpoint.team_id is None or endpoint.team_id in team_ids
    ]
    deliveries = bulk_insert(
        [
            WebhookDelivery(endpoint=endpoint, event=f"lead.{m.kind}", payload=_payload(m, n), created_at=now)
            for m, n in zip(messages, notifications, strict=True)
            for endpoint in endpoints
            if endpoint.team_id is None or endpoint.team_id == m.team_id
        ]
    )
    mail_ids = [
        n.pk
        for n, m in zip(notifications, messages, strict=True)
        if m.recipient.email and settings.LEADFLOW_NOTIFY_EMAIL
    ]
    delivery_ids = [d.pk for d in deliveries]
    if mail_ids or delivery_ids:
        enqueue_after_commit(lambda: _enqueue(mail_ids, delivery_ids))
    return notifications


def _endpoints_load() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True))


def _enqueue(mail_ids: list[int], delivery_ids: list[int]) -> None:
    from leadflow.routing.tasks import notification_email, webhook_deliver

    enqueue_all(
        [*((notification_email, [pk]) for pk in mail_ids), *((webhook_deliver, [pk]) for pk in delivery_ids)]
    )


def _payload(message: Message, notification: Notification) -> dict[str, Any]:
    lead = message.lead
    text = f"{message.title}\n{message.body}".strip()
    return {
        "event": f"lead.{message.kind}",
        "text": text + (f"\n{lead_url(lead.pk)}" if lead is not None else ""),
        "notification_id": notification.pk,
        "title": message.title,
        "body": message.body,
        "recipient": {
            "id": message.recipient.pk,
            "username": message.recipient.username,
            "email": message.recipient.email,
        },
        "lead": (
            {
                "id": lead.pk,
                "name": lead.display_name,
                "email": lead.email,
                "company": lead.company,
                "url": lead_url(lead.pk),
            }
            if lead is not None
            else None
        ),
        "team_id": message.team_id,
        "sent_at": notification.created_at.isoformat(),
        **message.data,
    }


def notification_email_deliver(*, notification_id: int) -> bool:
    """Mails one notification to its recipient once; True when it was sent now."""
    notification = (
        Notification.objects.select_related("recipient").filter(pk=notification_id, emailed_at=None).first()
    )
    if notification is None or not notification.recipient.email:
        return False
    body = notification.body
    if notification.lead_id is not None:
        body = f"{body}\n\nOpen the lead: {lead_url(notification.lead_id)}".strip()
    try:
        send_mail(
            subject=notification.title,
            message=body,
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
    except OSError as err:  # SMTP refusals (smtplib.SMTPException) and connection errors
        Notification.objects.filter(pk=notification.pk).update(email_error=str(err)[:300])
        raise
    Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now(), email_error="")
    return True


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The value of the signature header: HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_attempt(*, delivery_id: int) -> dt.timedelta | None:
    """Posts a pending delivery once. Returns the wait before the next attempt, or None when the
    delivery is done (delivered, or failed for good after LEADFLOW_WEBHOOK_ATTEMPTS attempts)."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .first()
    )
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    stamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "leadflow-webhook/1",
            "X-Leadflow-Event": delivery.event,
            "X-Leadflow-Delivery": str(delivery.pk),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(delivery.endpoint.secret, stamp, body),
        },
    )
    delivery.attempts += 1
    error, status = "", None
    try:
        with urllib.request.urlopen(request, timeout=settings.LEADFLOW_WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status, error = err.code, f"HTTP {err.code} {err.reason}"
    except (urllib.error.URLError, OSError) as err:
        error = str(getattr(err, "reason", err))
    delivery.response_status = status
    if not error and status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at, delivery.last_error = (
            DeliveryStatus.DELIVERED,
            timezone.now(),
            "",
        )
        wait = None
    else:
        delivery.last_error = error[:300] or f"HTTP {status}"
        if delivery.attempts >= settings.LEADFLOW_WEBHOOK_ATTEMPTS:
            delivery.status, wait = DeliveryStatus.FAILED, None
        else:
            wait = dt.timedelta(
                seconds=settings.LEADFLOW_WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
            )
    delivery.save(update_fields=["attempts", "response_status", "status", "delivered_at", "last_error"])
    return wait


def webhook_endpoint_set(*, team: Team | None, url: str) -> WebhookEndpoint | None:
    """Sets the global (team None) or a team's webhook URL; an empty URL removes it. A new endpoint gets
    a fresh signing secret; changing the URL keeps it."""
    url = url.strip()
    current = WebhookEndpoint.objects.filter(team=team).first()
    if not url:
        if current is not None:
            current.delete()
        return None
    if current is None:
        return WebhookEndpoint.objects.create(team=team, url=url, secret=secrets.token_hex(32))
    current.url, current.is_active = url, True
    current.save(update_fields=["url", "is_active"])
    return current


def notifications_mark_read(*, user: User, notification_ids: Sequence[int] | None = None) -> int:
    """Marks the user's notifications read (all of them when no ids are given); returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())
