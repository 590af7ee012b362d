"""Entry points of the intake flow: one lead (API, forms, webhooks), many (imports), replays and edits."""

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.intake import IntakeFlow, IntakeItem
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.core.collector import fewer_collections
from leadflow.core.config import config_snapshot
from leadflow.core.db import PlannerStatistics, bulk_insert, new_instance
from leadflow.hygiene.models import MatchKey
from leadflow.hygiene.normalize import normalize_lead_fields
from leadflow.leads.fields import STANDARD_FIELDS, CustomValueError, validate_custom_value
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Channel,
    IdentityKind,
    Lead,
    LeadIdentity,
    Source,
    StageTransition,
)
from leadflow.leads.selectors import custom_field_specs
from leadflow.leads.services import lead_apply_custom, lead_apply_values
from leadflow.nurture.services import leads_changed
from leadflow.pipeline.models import AccountLead
from leadflow.scoring.services import leads_qualify, leads_score

logger = logging.getLogger(__name__)

# A concurrent capture may create the same identity first; the batch is then retried.
MAX_ATTEMPTS = 3
# A submission still "received" after this long was abandoned by a dead process.
STUCK_AFTER = timedelta(minutes=1)


@dataclass
class CaptureResult:
    submission: Submission
    replayed: bool = False

    @property
    def lead(self) -> Lead | None:
        return self.submission.lead

    @property
    def created(self) -> bool:
        return self.submission.outcome == "created"

    @property
    def quarantined(self) -> bool:
        return self.submission.status == SubmissionStatus.QUARANTINED


class SubmissionInProgress(Exception):
    """A retry arrived while the first request with its Idempotency-Key is still being processed."""


def lead_capture(
    *,
    payload: Any,
    channel: str = Channel.API,
    source: Source | None = None,
    raw_body: str = "",
    idempotency_key: str | None = None,
    actor: User | None = None,
) -> CaptureResult:
    """Runs one submission through the intake flow; a retried Idempotency-Key replays the first result."""
    if idempotency_key:
        earlier = _submission_for_key(idempotency_key)
        if earlier is not None:
            return earlier
    start = time.perf_counter()
    try:
        (submission,) = bulk_insert(
            [
                Submission(
                    channel=channel,
                    source=source,
                    payload=payload if raw_body == "" else None,
                    raw_body=raw_body,
                    idempotency_key=idempotency_key or None,
                    actor=actor,
                )
            ]
        )
    except IntegrityError:
        earlier = _submission_for_key(idempotency_key or "")
        if earlier is None:
            raise
        return earlier
    submission.trace = [_persist_note(start, 1)]
    (submission,) = _process([submission], actor=actor)
    return CaptureResult(submission=submission)


def _submission_for_key(key: str) -> CaptureResult | None:
    """The first result for a retried key; a first attempt that died mid-way is finished now."""
    earlier = Submission.objects.select_related("lead").filter(idempotency_key=key).first()
    if earlier is None:
        return None
    if earlier.status == SubmissionStatus.RECEIVED:
        if not _stuck_claim(earlier, cutoff=timezone.now() - STUCK_AFTER):
            raise SubmissionInProgress(key)
        (earlier,) = _process([earlier], actor=earlier.actor, alert_owners=_alerts_owners(earlier))
    return CaptureResult(submission=earlier, replayed=True)


def submissions_recover(*, stuck_after: timedelta = STUCK_AFTER, limit: int = 500) -> list[int]:
    """Finishes submissions whose first attempt stopped after the raw save (a killed web worker, a lost
    database connection): each still ``received`` after ``stuck_after`` runs through the flow now, its
    trace saying so. An import's rows are finished as their import would (alerting owners or not). Returns
    the ids taken; one that fails is quarantined with its reason, as in any capture."""
    cutoff = timezone.now() - stuck_after
    taken = []
    stuck = _stuck(cutoff).select_related("actor", "import_run").order_by("received_at")
    for submission in stuck[:limit]:
        if not _stuck_claim(submission, cutoff=cutoff):
            continue
        taken.append(submission.pk)
        waited = (timezone.now() - submission.received_at).total_seconds()
        submission.trace = [
            *submission.trace,
            {
                "step": "recover",
                "status": "ok",
                "summary": f"Still unprocessed {waited:.0f} s after it was saved (its first attempt "
                "stopped before finishing); run through the flow again.",
            },
        ]
        try:
            _process([submission], actor=submission.actor, alert_owners=_alerts_owners(submission))
        except Exception:
            logger.exception("Recovering submission %s failed; it is quarantined", submission.pk)
    return taken


def _alerts_owners(submission: Submission) -> bool:
    return submission.import_run.alert_owners if submission.import_run else True


def _stuck(cutoff: datetime) -> QuerySet[Submission]:
    """Unprocessed since before ``cutoff``, and not taken by a recovery since then."""
    return Submission.objects.filter(status=SubmissionStatus.RECEIVED, received_at__lt=cutoff).filter(
        Q(processed_at__isnull=True) | Q(processed_at__lt=cutoff)
    )


def _stuck_claim(submission: Submission, *, cutoff: datetime) -> bool:
    """Takes a stuck submission for one recovery, which stamps ``processed_at`` as its lease (the flow
    sets it again when it commits): another recovery (a second worker, the client's retry) finds it taken.
    The attempt count goes up by the attempt that died."""
    now = timezone.now()
    claimed = _stuck(cutoff).filter(pk=submission.pk).update(attempts=F("attempts") + 1, processed_at=now)
    if claimed:
        submission.attempts += 1
        submission.processed_at = now
    return claimed == 1


def _persist_note(start: float, count: int) -> dict[str, Any]:
    return {
        "step": "persist_raw",
        "status": "ok",
        "summary": "Saved the submission as received.",
        "ms": round((time.perf_counter() - start) * 1000 / count, 3),
    }


def _process(
    submissions: list[Submission], *, actor: User | None, alert_owners: bool = True
) -> list[Submission]:
    """Steps 2–8 in one transaction, retried when a concurrent capture won an identity race.

    If the flow itself fails, the raw submissions stay, quarantined with the reason.
    """
    traces = {s.pk: list(s.trace) for s in submissions}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        items = [IntakeItem(submission=s) for s in submissions]
        try:
            with transaction.atomic(), config_snapshot():
                IntakeFlow(actor=actor, alert_owners=alert_owners).run(items)
            return submissions
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                _quarantine_failed(submissions, "Could not be saved after concurrent updates; replay it.")
                raise
            submissions = list(Submission.objects.filter(pk__in=[s.pk for s in submissions]).order_by("pk"))
            for s in submissions:
                s.trace = traces[s.pk] + [
                    {
                        "step": "identify",
                        "status": "retried",
                        "summary": "A concurrent capture won a race; retried.",
                    }
                ]
        except Exception:
            logger.exception("Intake flow failed for submissions %s", [s.pk for s in submissions])
            _quarantine_failed(
                submissions, "The intake flow failed unexpectedly; the submission is kept for replay."
            )
            raise
    raise AssertionError("the loop returns or raises")


def _quarantine_failed(submissions: list[Submission], reason: str) -> None:
    Submission.objects.filter(pk__in=[s.pk for s in submissions]).update(
        status=SubmissionStatus.QUARANTINED, errors={"flow": reason}, processed_at=timezone.now()
    )


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    quarantined: int = 0
    skipped: int = 0
    submission_ids: list[int] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.quarantined + self.skipped


@dataclass
class BulkItem:
    """A payload with what its Submission should carry: an idempotency key (a key seen before skips the
    item, counted as `skipped`) and, for imports, the import and row number."""

    payload: Any
    idempotency_key: str | None = None
    import_row: int | None = None


def leads_capture_bulk(
    *,
    payloads: Iterable[Any],
    channel: str = Channel.IMPORT,
    source: Source | None = None,
    actor: User | None = None,
    batch_size: int = 1000,
    import_run_id: int | None = None,
    on_batch: Callable[[BulkResult], None] | None = None,
    alert_owners: bool = True,
) -> BulkResult:
    """The intake flow for many submissions at once: set-based per batch, same result as one by one.

    `payloads` are plain payloads or BulkItems; `on_batch` is called with the running totals after
    each committed batch (progress bars). Without `alert_owners` the leads are assigned, but their owners
    get no notification and no response clock starts (an import of old contacts).
    """
    with fewer_collections():
        return _capture_all(
            payloads,
            channel=channel,
            source=source,
            actor=actor,
            batch_size=batch_size,
            import_run_id=import_run_id,
            on_batch=on_batch,
            alert_owners=alert_owners,
        )


def _capture_all(
    payloads: Iterable[Any],
    *,
    channel: str,
    source: Source | None,
    actor: User | None,
    batch_size: int,
    import_run_id: int | None,
    on_batch: Callable[[BulkResult], None] | None,
    alert_owners: bool,
) -> BulkResult:
    result = BulkResult()
    # The lookups of every batch (identities, blocking keys, idempotency keys) need current statistics.
    statistics = PlannerStatistics([Lead, LeadIdentity, MatchKey, Submission, AccountLead])
    batch: list[BulkItem] = []

    def flush() -> None:
        _capture_batch(
            batch,
            channel=channel,
            source=source,
            actor=actor,
            result=result,
            import_run_id=import_run_id,
            alert_owners=alert_owners,
        )
        statistics.rows_written(len(batch))
        batch.clear()
        if on_batch:
            on_batch(result)

    for payload in payloads:
        batch.append(payload if isinstance(payload, BulkItem) else BulkItem(payload))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return result


def _without_known_keys(items: list[BulkItem], result: BulkResult) -> list[BulkItem]:
    keys = {item.idempotency_key for item in items if item.idempotency_key}
    if not keys:
        return items
    seen = set(Submission.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    kept = []
    for item in items:
        if item.idempotency_key:
            if item.idempotency_key in seen:
                result.skipped += 1
                continue
            seen.add(item.idempotency_key)
        kept.append(item)
    return kept


def _capture_batch(
    items: list[BulkItem],
    *,
    channel: str,
    source: Source | None,
    actor: User | None,
    result: BulkResult,
    import_run_id: int | None,
    alert_owners: bool,
) -> None:
    items = _without_known_keys(items, result)
    if not items:
        return
    start = time.perf_counter()
    now = timezone.now()
    submissions = bulk_insert(
        [
            new_instance(
                Submission,
                channel=channel,
                source_id=source.pk if source else None,
                payload=item.payload,
                actor_id=actor.pk if actor else None,
                received_at=now,
                idempotency_key=item.idempotency_key,
                import_run_id=import_run_id,
                import_row=item.import_row,
            )
            for item in items
        ]
    )
    if source is not None:
        for submission in submissions:
            submission.source = source
    note = _persist_note(start, len(submissions))
    for submission in submissions:
        submission.trace = [note]
    submissions = _process(submissions, actor=actor, alert_owners=alert_owners)
    for submission in submissions:
        if submission.status == SubmissionStatus.QUARANTINED:
            result.quarantined += 1
        elif submission.outcome == "created":
            result.created += 1
        else:
            result.updated += 1
    result.submission_ids.extend(s.pk for s in submissions)


def submission_replay(
    *, submission: Submission, payload: Any = None, actor: User | None = None
) -> CaptureResult:
    """Runs a quarantined submission through the flow again, optionally with a corrected payload."""
    if submission.status == SubmissionStatus.PROCESSED:
        raise ValueError(f"Submission {submission.pk} was already processed.")
    if payload is not None:
        if submission.original_payload is None:
            submission.original_payload = (
                submission.payload if submission.payload is not None else submission.raw_body
            )
        submission.payload = payload
        submission.save(update_fields=["payload", "original_payload"])
    submission.trace = [
        *submission.trace,
        {
            "step": "replay",
            "status": "ok",
            "summary": f"Replayed{' with a corrected payload' if payload is not None else ''}.",
        },
    ]
    (submission,) = _process([submission], actor=actor)
    return CaptureResult(submission=submission)


class LeadValidationError(ValueError):
    """Field edits that cannot be saved, by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@transaction.atomic
def lead_update(*, lead: Lead, changes: Mapping[str, Any], actor: User | None) -> Lead:
    """A person's edit of lead fields: normalized like a capture, then scored and qualified again.

    Unlike a capture, an edit may clear a field (send an empty value), and unknown fields are errors.
    """
    specs = custom_field_specs()
    errors: dict[str, str] = {}
    standard: dict[str, str] = {}
    cleared: list[str] = []
    custom: dict[str, Any] = {}
    for key, value in changes.items():
        if key in STANDARD_FIELDS:
            if value is None or (isinstance(value, str) and not value.strip()):
                cleared.append(key)
            elif isinstance(value, dict | list):
                errors[key] = f"{key} must be text."
            else:
                standard[key] = str(value)
        elif key == "custom" and isinstance(value, Mapping):
            for custom_key, custom_value in value.items():
                if custom_key not in specs:
                    errors[f"custom.{custom_key}"] = "No custom field has this key."
                    continue
                try:
                    custom[custom_key] = validate_custom_value(specs[custom_key], custom_value)
                except CustomValueError as err:
                    errors[f"custom.{custom_key}"] = str(err)
        else:
            errors[key] = "This field cannot be edited."
    normalized = normalize_lead_fields(standard, default_region=settings.LEADFLOW_DEFAULT_REGION)
    errors.update(normalized.errors)
    if errors:
        raise LeadValidationError(errors)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    applied = lead_apply_values(lead=lead, values=normalized.values)
    for key in cleared:
        derived = {"email": "email_normalized", "phone": "phone_e164"}.get(key)
        for name in filter(None, (key, derived)):
            old = getattr(lead, name)
            if old not in ("", None):
                applied[name] = [str(old), ""]
                setattr(lead, name, None if name == "annual_revenue" else "")
    for key, value in custom.items():
        if value is None and key in lead.custom:
            applied[f"custom.{key}"] = [lead.custom.pop(key), None]
    applied.update(lead_apply_custom(lead=lead, custom=custom, extra={}))
    if not applied:
        return lead
    now = timezone.now()
    lead.updated_at = lead.last_activity_at = now
    for kind, name in ((IdentityKind.EMAIL, "email_normalized"), (IdentityKind.PHONE, "phone_e164")):
        if name in applied and getattr(lead, name):
            LeadIdentity.objects.get_or_create(kind=kind, value=getattr(lead, name), defaults={"lead": lead})
    outcomes = [leads_score(leads=[lead])[lead.pk], leads_qualify(leads=[lead])[lead.pk]]
    lead.save()
    Activity.objects.bulk_create(
        [
            Activity(
                lead=lead,
                kind=ActivityKind.FIELD_CHANGE,
                summary=f"Changed {', '.join(applied)}.",
                payload={"changes": applied, "steps": [outcome.summary for outcome in outcomes]},
                actor=actor,
                occurred_at=now,
            ),
            *(activity for outcome in outcomes for activity in outcome.activities),
        ]
    )
    StageTransition.objects.bulk_create(t for outcome in outcomes for t in outcome.transitions)
    leads_changed(lead_ids=[lead.pk])
    return lead
