"""Webhook channels: Google Ads lead forms, Meta Lead Ads (via the Graph API) and generic JSON.

Every accepted lead goes through lead_capture; refused calls are kept as RejectedDelivery rows.
"""

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.channel_models import (
    MetaLeadSync,
    RejectedDelivery,
    SyncStatus,
    WebhookEndpoint,
    WebhookKind,
)
from leadflow.capture.mapping import (
    generic_payload,
    google_ads_lead,
    mapping_errors,
    meta_lead_payload,
    meta_leadgen_notices,
    secret_equal,
    signature_valid,
)
from leadflow.capture.services import SubmissionInProgress, lead_capture
from leadflow.core.queue import enqueue_after_commit, enqueue_all
from leadflow.leads.models import Channel, Source

logger = logging.getLogger(__name__)
MAX_BODY_KEPT = 10_000
META_FIELDS = "id,created_time,field_data,ad_id,adgroup_id,campaign_id,form_id,is_organic"


@dataclass
class WebhookAnswer:
    status: int
    body: dict[str, Any]


class WebhookConfigError(ValueError):
    """Webhook settings that cannot be saved, by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def webhook_endpoint_create(*, name: str, kind: str, actor: User | None) -> WebhookEndpoint:
    """A new source with a webhook of `kind`; ad platforms are paid-ads sources."""
    channel = Channel.WEBHOOK if kind == WebhookKind.GENERIC else Channel.ADS
    with transaction.atomic():
        source = Source.objects.create(name=name, channel=channel)
        return WebhookEndpoint.objects.create(source=source, kind=kind)


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    secret: str,
    verify_token: str = "",
    access_token: str = "",
    graph_base_url: str = "",
    mapping: Any = None,
    actor: User | None,
) -> WebhookEndpoint:
    errors = mapping_errors(mapping) if mapping is not None else {}
    if not secret.strip():
        errors["secret"] = "A secret is required."
    if errors:
        raise WebhookConfigError(errors)
    endpoint.secret = secret.strip()
    endpoint.verify_token = verify_token.strip()
    endpoint.access_token = access_token.strip()
    endpoint.graph_base_url = graph_base_url.strip()
    if mapping is not None:
        endpoint.mapping = dict(mapping)
    endpoint.save()
    return endpoint


def delivery_reject(
    *, endpoint: WebhookEndpoint | None, status: int, reason: str, body: bytes, remote_addr: str | None
) -> WebhookAnswer:
    """Logs a refused webhook call and the answer it gets."""
    RejectedDelivery.objects.create(
        endpoint=endpoint,
        status_code=status,
        reason=reason[:300],
        body=body[:MAX_BODY_KEPT].decode("utf-8", errors="replace"),
        remote_addr=remote_addr or None,
    )
    logger.warning("Webhook refused (%s): %s", status, reason)
    return WebhookAnswer(status, {"detail": reason})


def _capture(endpoint: WebhookEndpoint, payload: Any, key: str, raw_body: str = "") -> WebhookAnswer:
    try:
        result = lead_capture(
            payload=payload,
            raw_body=raw_body,
            channel=Channel.WEBHOOK,
            source=endpoint.source,
            idempotency_key=key,
        )
    except SubmissionInProgress:
        return WebhookAnswer(409, {"detail": "This lead is still being processed; retry shortly."})
    submission = result.submission
    body: dict[str, Any] = {
        "submission_id": submission.pk,
        "status": submission.status,
        "duplicate": result.replayed,
    }
    if result.quarantined:
        body["errors"] = submission.errors
    return WebhookAnswer(200, body)


def google_lead_receive(*, endpoint: WebhookEndpoint, raw: bytes, remote_addr: str | None) -> WebhookAnswer:
    """Google's lead form webhook: 200 once the lead is kept (new, duplicate or quarantined).

    A wrong google_key is refused with 403 (401 when it is missing) and logged; a body that is not
    Google's JSON is kept as a quarantined submission and answered 400.
    """
    try:
        lead = google_ads_lead(json.loads(raw))
    except ValueError as err:
        delivery_reject(
            endpoint=endpoint, status=400, reason=f"Unreadable lead: {err}", body=raw, remote_addr=remote_addr
        )
        return WebhookAnswer(400, {"detail": f"Unreadable lead: {err}"})
    if not lead.google_key:
        return delivery_reject(
            endpoint=endpoint, status=401, reason="google_key is missing.", body=raw, remote_addr=remote_addr
        )
    if not secret_equal(endpoint.secret, lead.google_key):
        return delivery_reject(
            endpoint=endpoint,
            status=403,
            reason="google_key does not match.",
            body=raw,
            remote_addr=remote_addr,
        )
    return _capture(endpoint, lead.payload, f"google:{endpoint.pk}:{lead.lead_id}")


def meta_verify(*, endpoint: WebhookEndpoint, mode: str, token: str, challenge: str) -> tuple[int, str]:
    """Meta's subscription handshake: echo hub.challenge when hub.verify_token matches."""
    if mode == "subscribe" and secret_equal(endpoint.verify_token, token):
        return 200, challenge
    delivery_reject(
        endpoint=endpoint,
        status=403,
        reason="Verification handshake with a wrong verify token.",
        body=b"",
        remote_addr=None,
    )
    return 403, "Verify token does not match."


def meta_receive(
    *, endpoint: WebhookEndpoint, raw: bytes, signature: str, remote_addr: str | None
) -> WebhookAnswer:
    """A signed leadgen notification: each announced lead gets a sync, fetched by a task."""
    from leadflow.capture.webhook_tasks import meta_lead_fetch  # the task module imports these services

    if not signature:
        return delivery_reject(
            endpoint=endpoint,
            status=401,
            reason="X-Hub-Signature-256 is missing.",
            body=raw,
            remote_addr=remote_addr,
        )
    if not signature_valid(endpoint.secret, raw, signature):
        return delivery_reject(
            endpoint=endpoint,
            status=403,
            reason="X-Hub-Signature-256 does not match.",
            body=raw,
            remote_addr=remote_addr,
        )
    try:
        notices = meta_leadgen_notices(json.loads(raw))
    except ValueError:
        return delivery_reject(
            endpoint=endpoint, status=400, reason="The body is not JSON.", body=raw, remote_addr=remote_addr
        )
    queued = []
    for notice in notices:
        leadgen_id = str(notice["leadgen_id"])[:100]
        try:
            with transaction.atomic():
                sync = MetaLeadSync.objects.create(endpoint=endpoint, leadgen_id=leadgen_id, notice=notice)
        except IntegrityError:
            continue  # Meta sent this lead before: deduplicated
        queued.append(sync.pk)
    enqueue_after_commit(lambda: enqueue_all((meta_lead_fetch, [pk]) for pk in queued))
    return WebhookAnswer(200, {"queued": len(queued), "announced": len(notices)})


def _graph_get(url: str) -> Any:
    """GET a Graph API URL; retries connection errors, 429 and 5xx with exponential backoff."""
    retries = settings.LEADFLOW_META_RETRIES
    backoff = settings.LEADFLOW_META_BACKOFF_SECONDS
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=settings.LEADFLOW_META_TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            if err.code != 429 and err.code < 500:
                detail = err.read()[:500].decode("utf-8", errors="replace")
                raise GraphError(f"Graph API answered {err.code}: {detail}", transient=False) from None
            problem = f"Graph API answered {err.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            problem = f"Graph API unreachable: {err}"
        except ValueError:
            raise GraphError("Graph API answered something that is not JSON.", transient=False) from None
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    raise GraphError(f"{problem} (after {retries + 1} tries)", transient=True)


class GraphError(Exception):
    """The Graph API could not give the lead's data; `transient` when trying later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def meta_lead_sync(*, sync_id: int) -> MetaLeadSync:
    """Fetches one Meta lead's field data and captures it.

    A transient failure (Graph API down, 429, 5xx) is tried again by a deferred task, with the delay
    doubling, up to LEADFLOW_META_SYNC_ATTEMPTS; after that, or on a permanent failure, the sync is kept
    in the failed-sync log for replay.
    """
    from leadflow.capture.webhook_tasks import meta_lead_fetch  # the task module imports these services

    sync = MetaLeadSync.objects.select_related("endpoint__source").get(pk=sync_id)
    if sync.status == SyncStatus.DONE:
        return sync
    endpoint = sync.endpoint
    base = (endpoint.graph_base_url or settings.LEADFLOW_META_GRAPH_URL).rstrip("/")
    query = urllib.parse.urlencode({"access_token": endpoint.access_token, "fields": META_FIELDS})
    url = f"{base}/{urllib.parse.quote(sync.leadgen_id)}?{query}"
    sync.attempts += 1
    sync.updated_at = timezone.now()
    try:
        payload = meta_lead_payload(_graph_get(url), sync.notice)
    except (GraphError, ValueError) as err:
        sync.status = SyncStatus.FAILED
        sync.last_error = str(err)[:2000]
        backend = meta_lead_fetch.get_backend()
        if (
            isinstance(err, GraphError)
            and err.transient
            and sync.attempts < settings.LEADFLOW_META_SYNC_ATTEMPTS
            and backend.supports_defer
        ):
            retry_at = sync.updated_at + timedelta(
                seconds=settings.LEADFLOW_META_RETRY_DELAY_SECONDS * 2 ** (sync.attempts - 1)
            )
            sync.status = SyncStatus.PENDING
            sync.last_error = f"{sync.last_error[:1900]}; tried again after {retry_at:%Y-%m-%d %H:%M:%S} UTC"
            enqueue_after_commit(lambda: meta_lead_fetch.using(run_after=retry_at).enqueue(sync.pk))
        sync.save(update_fields=["status", "last_error", "attempts", "updated_at"])
        return sync
    answer = _capture(endpoint, payload, f"meta:{endpoint.pk}:{sync.leadgen_id}")
    sync.submission_id = answer.body.get("submission_id")
    sync.status = SyncStatus.DONE if sync.submission_id else SyncStatus.FAILED
    sync.last_error = "" if sync.submission_id else str(answer.body.get("detail", ""))
    sync.save(update_fields=["status", "last_error", "attempts", "updated_at", "submission"])
    return sync


def meta_sync_replay(*, sync: MetaLeadSync, actor: User | None) -> None:
    """Queues a failed sync again."""
    from leadflow.capture.webhook_tasks import meta_lead_fetch  # the task module imports these services

    if sync.status == SyncStatus.DONE:
        raise ValueError("This lead was already synced.")
    MetaLeadSync.objects.filter(pk=sync.pk).update(
        status=SyncStatus.PENDING, actor=actor, updated_at=timezone.now()
    )
    enqueue_after_commit(lambda: meta_lead_fetch.enqueue(sync.pk))


def generic_receive(
    *, endpoint: WebhookEndpoint, raw: bytes, headers: Mapping[str, str], remote_addr: str | None
) -> WebhookAnswer:
    """A JSON webhook authenticated by the source's secret (X-Leadflow-Secret or Bearer) or an HMAC
    signature of the body (X-Signature-256 / X-Hub-Signature-256), mapped by the source's dot paths."""
    signature = headers.get("X-Signature-256") or headers.get("X-Hub-Signature-256") or ""
    bearer = headers.get("Authorization", "").removeprefix("Bearer ").strip()
    given = headers.get("X-Leadflow-Secret", "").strip() or bearer
    if not signature and not given:
        return delivery_reject(
            endpoint=endpoint,
            status=401,
            reason="No secret or signature was sent.",
            body=raw,
            remote_addr=remote_addr,
        )
    if not (
        signature_valid(endpoint.secret, raw, signature)
        if signature
        else secret_equal(endpoint.secret, given)
    ):
        reason = "The signature does not match." if signature else "The secret does not match."
        return delivery_reject(
            endpoint=endpoint, status=403, reason=reason, body=raw, remote_addr=remote_addr
        )
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        answer = _capture(endpoint, None, "", raw_body=text)
        return WebhookAnswer(422, answer.body)
    key = headers.get("Idempotency-Key", "").strip()[:150]
    answer = _capture(
        endpoint, generic_payload(body, endpoint.mapping), f"hook:{endpoint.pk}:{key}" if key else ""
    )
    if answer.body.get("status") == "quarantined":
        return WebhookAnswer(422, answer.body)
    return answer
