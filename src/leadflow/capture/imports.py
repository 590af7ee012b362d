"""Imports: a file (CSV, XLSX, vCard) → column mapping → preview → dry run → run → error report → undo.

Every row goes through the one intake flow (`leads_capture_bulk`); each row's Submission carries the
import and the row number. A row's idempotency key is its source and content, so running the same file
again changes nothing. Undo removes the leads the import created and reverts the fields it changed,
for each lead that nothing touched since (its `updated_at` is still the import's).
"""

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.import_files import ImportRow, read_head, read_rows
from leadflow.capture.import_mapping import row_payload, suggest_mapping, validate_mapping
from leadflow.capture.models import (
    Import,
    ImportMapping,
    ImportStatus,
    Outcome,
    Submission,
    SubmissionStatus,
)
from leadflow.capture.parse import ParsedSubmission, parse_submission
from leadflow.capture.services import BulkItem, BulkResult, leads_capture_bulk
from leadflow.core.queue import enqueue_after_commit
from leadflow.leads.fields import STANDARD_FIELDS
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Channel,
    IdentityKind,
    Lead,
    LeadIdentity,
    Source,
)
from leadflow.leads.selectors import custom_field_specs

PREVIEW_ROWS = 20
LOOKUP_CHUNK = 5000


class ImportError_(ValueError):
    """An import that cannot go on; str(err) is for the user."""


def _import_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_create(
    *,
    stream: IO[bytes],
    file_name: str,
    source_name: str,
    actor: User | None = None,
    mapping: dict[str, str] | None = None,
    alert_owners: bool = False,
) -> Import:
    """Keeps the file in the data directory, detects its shape and suggests a column mapping.

    Without `mapping`, a saved mapping whose headers are exactly this file's is used, else the
    suggestion from the headers. With `alert_owners`, the owners of the leads it assigns are notified and
    their response clocks start, as for a lead from a form.
    """
    digest = hashlib.sha256()
    temp = _import_dir() / f"upload-{timezone.now().timestamp()}.part"
    size = 0
    with temp.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    sha = digest.hexdigest()
    suffix = Path(file_name).suffix.lower()[:10]
    path = _import_dir() / f"{sha}{suffix}"
    shutil.move(temp, path)
    with path.open("rb") as file:
        shape, _ = read_head(file, name=file_name, limit=1)
    source, _ = Source.objects.get_or_create(
        name__iexact=source_name.strip(),
        defaults={"name": source_name.strip()[:100], "channel": Channel.IMPORT},
    )
    custom_keys = list(custom_field_specs())
    if mapping is None:
        saved = next(
            (m for m in ImportMapping.objects.all() if sorted(m.columns) == sorted(shape.headers)), None
        )
        mapping = saved.columns if saved else suggest_mapping(shape.headers, custom_keys)
    errors = validate_mapping(mapping, custom_keys)
    if errors:
        raise ImportError_("; ".join(f"{h}: {e}" for h, e in errors.items()))
    return Import.objects.create(
        file_name=Path(file_name).name[:255],
        path=str(path),
        sha256=sha,
        size=size,
        file_format=shape.format,
        encoding=shape.encoding,
        delimiter=shape.delimiter,
        headers=shape.headers,
        source=source,
        mapping={h: mapping.get(h, "") for h in shape.headers},
        actor=actor,
        alert_owners=alert_owners,
    )


def import_set_mapping(
    *, imp: Import, mapping: dict[str, str], save_as: str = "", actor: User | None
) -> Import:
    """Corrects the column mapping; `save_as` also keeps it as a reusable ImportMapping."""
    errors = validate_mapping(mapping, custom_field_specs())
    if errors:
        raise ImportError_("; ".join(f"{h}: {e}" for h, e in errors.items()))
    imp.mapping = {h: mapping.get(h, "") for h in imp.headers}
    imp.save(update_fields=["mapping"])
    if save_as.strip():
        ImportMapping.objects.update_or_create(
            name=save_as.strip()[:100], defaults={"columns": imp.mapping, "created_by": actor}
        )
    return imp


def _column_mapping(imp: Import) -> dict[str, str]:
    """The mapping in the file's column order (PostgreSQL's jsonb does not keep key order)."""
    return {header: imp.mapping.get(header, "") for header in imp.headers}


def _rows(imp: Import) -> Iterator[ImportRow]:
    with Path(imp.path).open("rb") as file:
        _, rows = read_rows(file, name=imp.file_name)
        yield from rows


@dataclass
class PreviewRow:
    number: int
    payload: dict[str, Any]
    errors: dict[str, str]


def _parse(row: ImportRow, imp: Import, specs: dict[str, Any]) -> tuple[dict[str, Any], ParsedSubmission]:
    payload = row_payload(row.cells, _column_mapping(imp))
    parsed = parse_submission(payload, custom_fields=specs, default_region=settings.LEADFLOW_DEFAULT_REGION)
    if row.problem:
        parsed.errors = {"row": row.problem, **parsed.errors}
    return payload, parsed


def import_preview(*, imp: Import, limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows as the intake flow will read them, with each row's validation problems."""
    specs = custom_field_specs()
    preview = []
    for row in _rows(imp):
        payload, parsed = _parse(row, imp, specs)
        preview.append(PreviewRow(row.number, payload, parsed.errors))
        if len(preview) >= limit:
            break
    return preview


@dataclass
class DryRun:
    total: int = 0
    new: int = 0
    update: int = 0
    invalid: int = 0
    unchanged: int = 0
    problems: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _row_key(imp: Import, payload: dict[str, Any]) -> str:
    content = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return f"import:{imp.source_id}:{hashlib.sha256(content.encode()).hexdigest()}"


def _identity_keys(parsed: ParsedSubmission, source_id: int | None) -> list[tuple[str, str]]:
    keys = []
    if parsed.external_id:
        keys.append((IdentityKind.EXTERNAL_ID.value, f"{source_id or Channel.IMPORT}:{parsed.external_id}"))
    if email := parsed.values.get("email_normalized"):
        keys.append((IdentityKind.EMAIL.value, email))
    if phone := parsed.values.get("phone_e164"):
        keys.append((IdentityKind.PHONE.value, phone))
    return keys


def import_dry_run(*, imp: Import, problems_limit: int = 100) -> DryRun:
    """Counts what a run would do, writing nothing: new leads, matches to update, invalid rows, and rows
    already imported before (unchanged)."""
    specs = custom_field_specs()
    result = DryRun()
    seen_keys: set[tuple[str, str]] = set()
    pending: list[list[tuple[str, str]]] = []
    row_keys: list[str] = []

    def flush() -> None:
        known_rows = set(
            Submission.objects.filter(idempotency_key__in=row_keys).values_list("idempotency_key", flat=True)
        )
        condition = Q(pk__in=[])
        wanted: dict[str, set[str]] = {}
        for keys in pending:
            for kind, value in keys:
                wanted.setdefault(kind, set()).add(value)
        for kind, values in wanted.items():
            condition |= Q(kind=kind, value__in=values)
        known = set(LeadIdentity.objects.filter(condition).values_list("kind", "value"))
        for key, keys in zip(row_keys, pending, strict=True):
            if key in known_rows:
                result.unchanged += 1
            elif any(k in known or k in seen_keys for k in keys):
                result.update += 1
            else:
                result.new += 1
            seen_keys.update(keys)
        pending.clear()
        row_keys.clear()

    for row in _rows(imp):
        result.total += 1
        payload, parsed = _parse(row, imp, specs)
        if parsed.errors:
            result.invalid += 1
            if len(result.problems) < problems_limit:
                result.problems.append((row.number, parsed.errors))
            continue
        pending.append(_identity_keys(parsed, imp.source_id))
        row_keys.append(_row_key(imp, payload))
        if len(pending) >= LOOKUP_CHUNK:
            flush()
    flush()
    return result


def import_start(*, imp: Import, actor: User | None, alert_owners: bool | None = None) -> Import:
    """Queues the run as a background task (it runs once the surrounding transaction commits);
    ``alert_owners`` sets whether the new owners are notified (None: as the import says)."""
    from leadflow.capture.tasks import import_run_task

    if imp.status not in (ImportStatus.UPLOADED, ImportStatus.FAILED):
        raise ImportError_(f"Import {imp.pk} is {imp.get_status_display().lower()}.")
    imp.status = ImportStatus.QUEUED
    imp.actor = imp.actor or actor
    if alert_owners is not None:
        imp.alert_owners = alert_owners
    imp.save(update_fields=["status", "actor", "alert_owners"])
    enqueue_after_commit(lambda: import_run_task.enqueue(imp.pk))
    return imp


def import_execute(*, import_id: int, on_progress: Callable[[Import], None] | None = None) -> Import:
    """Runs every row through the intake flow in batches, saving progress after each batch.

    Idempotent: a finished import is left alone, and rows already captured are skipped by key.
    """
    imp = Import.objects.select_related("source").get(pk=import_id)
    if imp.status in (ImportStatus.DONE, ImportStatus.UNDONE):
        return imp
    imp.status, imp.started_at = ImportStatus.RUNNING, timezone.now()
    imp.total_rows = sum(1 for _ in _rows(imp))
    imp.processed_rows = imp.created = imp.updated = imp.invalid = imp.unchanged = 0
    imp.save()
    unreadable: list[Submission] = []
    mapping = _column_mapping(imp)

    def items() -> Iterator[BulkItem]:
        for row in _rows(imp):
            if row.problem:
                unreadable.append(
                    Submission(
                        channel=Channel.IMPORT,
                        source=imp.source,
                        raw_body=json.dumps(row.cells, ensure_ascii=False)[:100_000],
                        status=SubmissionStatus.QUARANTINED,
                        errors={"row": row.problem},
                        import_run=imp,
                        import_row=row.number,
                        actor=imp.actor,
                        processed_at=timezone.now(),
                    )
                )
                continue
            payload = row_payload(row.cells, mapping)
            yield BulkItem(payload, idempotency_key=_row_key(imp, payload), import_row=row.number)

    def progress(result: BulkResult) -> None:
        if unreadable:
            Submission.objects.bulk_create(unreadable)
            result.quarantined += len(unreadable)
            unreadable.clear()
        imp.processed_rows = result.rows
        imp.created, imp.updated = result.created, result.updated
        imp.invalid, imp.unchanged = result.quarantined, result.skipped
        Import.objects.filter(pk=imp.pk).update(
            processed_rows=imp.processed_rows,
            created=imp.created,
            updated=imp.updated,
            invalid=imp.invalid,
            unchanged=imp.unchanged,
        )
        if on_progress:
            on_progress(imp)

    try:
        result = leads_capture_bulk(
            payloads=items(),
            channel=Channel.IMPORT,
            source=imp.source,
            actor=imp.actor,
            import_run_id=imp.pk,
            on_batch=progress,
            alert_owners=imp.alert_owners,
        )
        progress(result)
    except Exception as err:
        _release_invalid_rows(imp)
        imp.status, imp.summary = ImportStatus.FAILED, f"Stopped: {type(err).__name__}: {err}"[:2000]
        imp.finished_at = timezone.now()
        imp.save(update_fields=["status", "summary", "finished_at"])
        raise
    _release_invalid_rows(imp)
    imp.status, imp.finished_at = ImportStatus.DONE, timezone.now()
    imp.summary = (
        f"{imp.created} new, {imp.updated} updated, {imp.invalid} invalid (kept, see the error report), "
        f"{imp.unchanged} unchanged (imported before)."
    )
    imp.save(update_fields=["status", "finished_at", "summary"])
    return imp


def _release_invalid_rows(imp: Import) -> None:
    """Invalid rows keep no key: running the file again reports them again (and still changes nothing)."""
    Submission.objects.filter(
        import_run=imp, status=SubmissionStatus.QUARANTINED, idempotency_key__isnull=False
    ).update(idempotency_key=None)


def import_error_rows(*, imp: Import) -> Iterator[tuple[int | None, dict[str, str], int]]:
    """(row number, errors by field, submission id) of every invalid row, by row number."""
    yield from (
        Submission.objects.filter(import_run=imp, status=SubmissionStatus.QUARANTINED)
        .order_by("import_row")
        .values_list("import_row", "errors", "pk")
        .iterator()
    )


def import_error_report(*, imp: Import) -> str:
    """The error report as CSV: row, field, problem, submission id (for a replay)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "problem", "submission_id"])
    for number, errors, submission_id in import_error_rows(imp=imp):
        for name, problem in (errors or {"": "invalid"}).items():
            writer.writerow([number, name, problem, submission_id])
    return out.getvalue()


@dataclass
class UndoResult:
    removed: int = 0
    reverted: int = 0
    kept: list[str] = field(default_factory=list)


@transaction.atomic
def import_undo(*, imp: Import, actor: User | None) -> UndoResult:
    """Removes the import's new leads and reverts its updates, for leads nothing touched since.

    A lead changed after the import (its updated_at is no longer the import's) is kept as it is and
    listed with the reason. The rows' keys are released, so the file can be imported again.
    """
    if imp.status != ImportStatus.DONE:
        raise ImportError_(f"Only a finished import can be undone; this one is {imp.get_status_display()}.")
    result = UndoResult()
    by_lead: dict[int, list[Submission]] = {}
    for submission in (
        Submission.objects.filter(import_run=imp, status=SubmissionStatus.PROCESSED, lead__isnull=False)
        .only("pk", "lead_id", "outcome", "processed_at")
        .order_by("pk")
        .iterator()
    ):
        assert submission.lead_id is not None
        by_lead.setdefault(submission.lead_id, []).append(submission)
    leads = Lead.objects.select_for_update(of=("self",)).in_bulk(list(by_lead))
    changes = {
        a.submission_id: a.payload.get("changes", {})
        for a in Activity.objects.filter(
            kind=ActivityKind.CAPTURE,
            submission_id__in=[s.pk for subs in by_lead.values() for s in subs],
        ).only("submission_id", "payload")
    }
    now = timezone.now()
    to_delete, to_save, notes = [], [], []
    for lead_id, submissions in by_lead.items():
        lead = leads.get(lead_id)
        if lead is None:
            continue
        last = max(s.processed_at for s in submissions if s.processed_at)
        if lead.updated_at != last:
            result.kept.append(f"Lead {lead_id}: changed after the import, left as it is.")
            continue
        if any(s.outcome == Outcome.CREATED for s in submissions):
            to_delete.append(lead_id)
            continue
        reverted: dict[str, Any] = {}
        for submission in reversed(submissions):
            for name, (old, _new) in changes.get(submission.pk, {}).items():
                reverted[name] = old
        _revert(lead, reverted)
        # Identities the import added (an external id, a new email or phone) carry its time.
        LeadIdentity.objects.filter(lead=lead, created_at__in={s.processed_at for s in submissions}).delete()
        lead.updated_at = now
        to_save.append(lead)
        notes.append(
            Activity(
                lead=lead,
                kind=ActivityKind.FIELD_CHANGE,
                summary=f"Import {imp.pk} undone: reverted {', '.join(reverted) or 'nothing'}.",
                payload={"import_id": imp.pk, "reverted": reverted},
                actor=actor,
                occurred_at=now,
            )
        )
    Lead.objects.filter(pk__in=to_delete).delete()
    for lead in to_save:
        lead.save()
    Activity.objects.bulk_create(notes)
    result.removed, result.reverted = len(to_delete), len(to_save)
    Submission.objects.filter(import_run=imp).update(idempotency_key=None)
    imp.status, imp.undone_at = ImportStatus.UNDONE, now
    imp.summary += (
        f" Undone: {result.removed} leads removed, {result.reverted} reverted, {len(result.kept)} kept."
    )
    imp.save(update_fields=["status", "undone_at", "summary"])
    return result


def _revert(lead: Lead, values: dict[str, Any]) -> None:
    """Puts back the values an import replaced."""
    for name, old in values.items():
        if name == "source":
            lead.source_id = old
        elif name.startswith("custom."):
            key = name.removeprefix("custom.")
            if old is None:
                lead.custom.pop(key, None)
            else:
                lead.custom[key] = old
        elif name.startswith("extra."):
            key = name.removeprefix("extra.")
            if old is None:
                lead.extra.pop(key, None)
            else:
                lead.extra[key] = old
        elif name in (*STANDARD_FIELDS, "email_normalized", "phone_e164"):
            setattr(lead, name, old if old is not None or name == "annual_revenue" else "")
