"""Email to lead: inbound messages from IMAP, files (maildir, mbox, .eml) or the API.

Every message ends as exactly one of: a new or updated lead (through `lead_capture`, channel email), an
activity on a known lead's timeline (a reply in a thread, or a message from a lead's address), or the
rejected log with its reason. `email_ingest` never raises for a bad message.
"""

import imaplib
import logging
import mailbox
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from email_validator import EmailNotValidError, validate_email

from leadflow.access.models import User
from leadflow.capture.email_parse import ParsedEmail, parse_email
from leadflow.capture.models import EmailOutcome, InboundEmail, InboundRoute, SubmissionStatus
from leadflow.capture.services import lead_capture
from leadflow.core.config import config_snapshot
from leadflow.core.queue import enqueue_after_commit
from leadflow.hygiene.normalize import NormalizationError, normalize_email
from leadflow.leads.models import Activity, ActivityKind, Channel, IdentityKind, Lead, LeadIdentity, Source
from leadflow.leads.services import activity_create
from leadflow.nurture.selectors import delivery_replied_to
from leadflow.nurture.services import email_reply_received
from leadflow.scoring.services import activity_score

logger = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


def _reject(record: InboundEmail, reason: str) -> InboundEmail:
    record.outcome, record.reason = EmailOutcome.REJECTED, reason[:2000]
    record.save()
    return record


def email_ingest(
    *, raw: bytes, route: InboundRoute | None = None, origin: str = "", actor: User | None = None
) -> InboundEmail:
    """Turns one raw message into a lead, an activity or a rejected-log entry (never raises for bad mail)."""
    record = InboundEmail(route=route, raw=raw[:MAX_MESSAGE_BYTES], origin=origin[:300])
    try:
        parsed = parse_email(raw, default_region=settings.LEADFLOW_DEFAULT_REGION)
        record.message_id, record.subject = parsed.message_id, parsed.subject
        record.sender = parsed.sender_address
        if len(raw) > MAX_MESSAGE_BYTES:
            return _reject(record, f"The message is larger than {MAX_MESSAGE_BYTES} bytes.")
        return _ingest_parsed(record, parsed, actor)
    except Exception as err:
        logger.exception("Inbound email could not be processed")
        return _reject(record, f"Could not be processed ({type(err).__name__}); kept for review.")


def _ingest_parsed(record: InboundEmail, parsed: ParsedEmail, actor: User | None) -> InboundEmail:
    if record.route is None:
        record.route = InboundRoute.objects.filter(address__in=parsed.recipients, is_active=True).first()
    if not parsed.sender_address:
        problems = " ".join(parsed.problems)
        return _reject(record, f"No sender address (From/Reply-To). {problems}".strip())
    if parsed.automatic:
        return _reject(record, f"Automatic message, not from a person ({parsed.automatic}).")
    if parsed.message_id:
        earlier = (
            InboundEmail.objects.filter(message_id=parsed.message_id)
            .exclude(outcome=EmailOutcome.REJECTED)
            .first()
        )
        if earlier is not None:
            return _reject(record, f"Already received (inbound email {earlier.pk}).")
    lead, how = _known_lead(parsed)
    if lead is not None:
        with transaction.atomic():
            activity = _reply_record(lead, parsed, how)
            record.outcome, record.lead = EmailOutcome.ACTIVITY, lead
            record.reason = f"Added to lead {lead.pk}'s timeline ({how}; activity {activity.pk})."
            record.save()
        return record
    source = record.route.source if record.route else None
    payload = {
        "email": parsed.sender_address,
        "first_name": parsed.first_name,
        "last_name": parsed.last_name,
        "phone": parsed.phone,
        "company": parsed.company,
        "job_title": parsed.job_title,
        "email_subject": parsed.subject,
        "email_body": parsed.body[:5000],
    }
    payload = {k: v for k, v in payload.items() if v}
    result = lead_capture(
        payload=payload,
        channel=Channel.EMAIL,
        source=source,
        idempotency_key=f"email:{parsed.message_id}" if parsed.message_id else None,
        actor=actor,
    )
    record.submission = result.submission
    if result.submission.status == SubmissionStatus.QUARANTINED:
        errors = "; ".join(f"{k}: {v}" for k, v in result.submission.errors.items())
        return _reject(record, f"Not a valid lead ({errors}); submission {result.submission.pk} kept.")
    record.outcome, record.lead = EmailOutcome.LEAD, result.lead
    record.reason = (
        f"{'Created' if result.created else 'Updated'} lead {result.lead.pk if result.lead else '?'}."
    )
    record.save()
    return record


def _reply_record(lead: Lead, parsed: ParsedEmail, how: str) -> Activity:
    """A message from a known lead: on the timeline (event email_replied when it answers a thread),
    scored by engagement rules, and passed to nurture (replied-to campaign email, "replied" exit goal)."""
    activity = activity_create(
        lead=lead,
        kind=ActivityKind.EMAIL,
        summary=f"Email from {parsed.sender_address}: {parsed.subject or '(no subject)'}",
        payload={
            "direction": "inbound",
            "event": "email_replied" if parsed.in_reply_to else "email_received",
            "from": parsed.sender_address,
            "subject": parsed.subject,
            "body": parsed.body,
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "matched_by": how,
        },
        defer=True,
    )
    with config_snapshot():
        activity_score(lead=lead, activity=activity, unsaved=["last_activity_at"])
    email_reply_received(activity=activity, in_reply_to=parsed.in_reply_to)
    return activity


def _known_lead(parsed: ParsedEmail) -> tuple[Lead | None, str]:
    """The lead a reply threads to (a campaign email or an earlier inbound message in In-Reply-To or
    References), else the lead with the sender's address."""
    if parsed.in_reply_to:
        delivery = delivery_replied_to(message_ids=parsed.in_reply_to)
        if delivery is not None:
            return delivery.lead, "reply to a campaign email"
        earlier = (
            InboundEmail.objects.filter(message_id__in=parsed.in_reply_to, lead__isnull=False)
            .select_related("lead")
            .order_by("-received_at")
            .first()
        )
        if earlier is not None and earlier.lead is not None:
            return earlier.lead, "reply in a thread"
    try:
        _, normalized = normalize_email(parsed.sender_address)
    except NormalizationError:
        return None, ""
    if normalized:
        identity = (
            LeadIdentity.objects.filter(kind=IdentityKind.EMAIL, value=normalized)
            .select_related("lead")
            .first()
        )
        if identity is not None:
            return identity.lead, "sender is a known lead"
    return None, ""


@dataclass
class IngestSummary:
    leads: int = 0
    activities: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, record: InboundEmail) -> None:
        if record.outcome == EmailOutcome.LEAD:
            self.leads += 1
        elif record.outcome == EmailOutcome.ACTIVITY:
            self.activities += 1
        else:
            self.rejected += 1
            self.reasons.append(f"{record.origin}: {record.reason}")


def messages_at(path: Path) -> Iterator[tuple[str, bytes]]:
    """(origin, raw bytes) of every message in a maildir, an mbox file, an .eml file or a folder of them."""
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        box = mailbox.Maildir(path, create=False)
        for key in box.iterkeys():
            with box.get_file(key) as file:
                yield f"{path}:{key}", file.read()
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix.lower() in (".eml", ".msg", ".txt", ".mbox", ""):
                yield from messages_at(child)
    elif path.is_file():
        with path.open("rb") as file:
            head = file.read(5)
        if head == b"From ":
            for index, message in enumerate(mailbox.mbox(path, create=False)):
                yield f"{path}#{index + 1}", message.as_bytes()
        else:
            yield str(path), path.read_bytes()
    else:
        raise FileNotFoundError(str(path))


def emails_ingest_path(*, path: Path, route: InboundRoute | None = None) -> IngestSummary:
    summary = IngestSummary()
    for origin, raw in messages_at(path):
        summary.add(email_ingest(raw=raw, route=route, origin=origin))
    return summary


def route_poll(*, route_id: int) -> IngestSummary:
    """Fetches the route's unseen IMAP messages; each is marked seen once it has been recorded. A mailbox
    that cannot be reached or refuses the login is recorded on the route (shown in the UI), not raised."""
    route = InboundRoute.objects.select_related("source").get(pk=route_id)
    summary = IngestSummary()
    if not (route.is_active and route.imap_host):
        return summary
    client_class = imaplib.IMAP4_SSL if route.imap_ssl else imaplib.IMAP4
    error = ""
    try:
        with client_class(route.imap_host, route.imap_port, timeout=30) as client:
            client.login(route.imap_user, route.imap_password)
            status, _ = client.select(route.imap_folder)
            if status != "OK":
                raise imaplib.IMAP4.error(f"no folder {route.imap_folder!r}")
            _, data = client.uid("SEARCH", "UNSEEN")
            for uid in (data[0] or b"").decode().split():
                _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((part[1] for part in fetched if isinstance(part, tuple)), b"")
                summary.add(email_ingest(raw=raw, route=route, origin=f"imap:{route.address}:{uid}"))
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    except (OSError, imaplib.IMAP4.error) as err:
        detail = err.args[0] if err.args else err
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        kind = "The mailbox refused" if isinstance(err, imaplib.IMAP4.error) else "Could not connect"
        error = f"{kind} ({type(err).__name__}): {text}"[:500]
        logger.warning("IMAP poll of %s failed: %s", route.address, error)
    route.last_polled_at, route.last_error = timezone.now(), error
    route.save(update_fields=["last_polled_at", "last_error"])
    return summary


class InboundRouteError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def inbound_route_save(
    *, route: InboundRoute | None, values: Mapping[str, Any], actor: User | None
) -> InboundRoute:
    """Creates or edits an inbound address: its source (an existing one by name, else a new email source)
    and optionally the IMAP mailbox the worker polls. A blank password on edit keeps the saved one."""
    route = route or InboundRoute()
    errors: dict[str, str] = {}
    address = str(values.get("address") or "").strip().lower()
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as err:
        errors["address"] = f"Not an email address: {err}"
    else:
        if InboundRoute.objects.filter(address=address).exclude(pk=route.pk).exists():
            errors["address"] = "Another route already uses this address."
    source_name = str(values.get("source") or "").strip()
    if not source_name:
        errors["source"] = "Name the source its leads are attributed to."
    host = str(values.get("imap_host") or "").strip()
    try:
        port = int(values.get("imap_port") or 993)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        errors["imap_port"] = "A port number from 1 to 65535."
        port = 993
    user = str(values.get("imap_user") or "").strip()
    password = str(values.get("imap_password") or "") or route.imap_password
    if host and not (user and password):
        errors["imap_user"] = "An IMAP mailbox needs a user and a password."
    if errors:
        raise InboundRouteError(errors)
    with transaction.atomic():
        source = Source.objects.filter(name__iexact=source_name).first() or Source.objects.create(
            name=source_name[:100], channel=Channel.EMAIL
        )
        was_polled = route.pk is not None and route.is_active and bool(route.imap_host)
        route.address, route.source = address, source
        route.imap_host, route.imap_port, route.imap_user, route.imap_password = host, port, user, password
        route.imap_ssl = bool(values.get("imap_ssl"))
        route.imap_folder = str(values.get("imap_folder") or "INBOX").strip() or "INBOX"
        route.is_active = bool(values.get("is_active"))
        route.save()
        if route.is_active and route.imap_host and not was_polled:
            _polling_start(route)
    return route


def inbound_route_poll_now(*, route: InboundRoute, actor: User | None) -> None:
    """Queues one poll of the route's mailbox now (its regular polling goes on as before)."""
    from leadflow.capture.tasks import inbound_poll_task

    enqueue_after_commit(lambda: inbound_poll_task.enqueue(route.pk, ""))


def _polling_start(route: InboundRoute) -> None:
    """Starts a polling chain for the route; an older chain ends at its next run (it holds an old token)."""
    from leadflow.capture.tasks import inbound_poll_task

    route.poll_chain = uuid.uuid4().hex
    route.save(update_fields=["poll_chain"])
    route_id, chain = route.pk, route.poll_chain
    enqueue_after_commit(lambda: inbound_poll_task.enqueue(route_id, chain))


def routes_poll_enqueue() -> int:
    """Starts polling every active IMAP route (called by `leadflow ingest-email --poll` / the worker)."""
    routes = list(InboundRoute.objects.filter(is_active=True).exclude(imap_host=""))
    for route in routes:
        _polling_start(route)
    return len(routes)
