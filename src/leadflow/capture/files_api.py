"""REST endpoints of the file channels: imports (upload, mapping, preview, dry run, run, errors, undo)
and inbound email (a raw message in, the rejected log out)."""

import json
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.capture.email_intake import email_ingest
from leadflow.capture.import_files import ImportFileError
from leadflow.capture.imports import (
    ImportError_,
    import_create,
    import_dry_run,
    import_error_report,
    import_preview,
    import_set_mapping,
    import_start,
    import_undo,
)
from leadflow.capture.models import EmailOutcome, Import, InboundEmail, InboundRoute
from leadflow.core.api import unprocessable

router = Router(tags=["imports and inbound email"], auth=AUTH)


class ImportOut(Schema):
    id: int
    file_name: str
    file_format: str
    encoding: str
    delimiter: str
    source: str | None
    headers: list[str]
    mapping: dict[str, str]
    alert_owners: bool = Field(
        description="Whether the owners of the leads it assigns are notified and their response clocks start."
    )
    status: str
    total_rows: int | None
    processed_rows: int
    percent: int
    created: int
    updated: int
    invalid: int
    unchanged: int
    summary: str
    created_at: datetime
    finished_at: datetime | None


def import_out(imp: Import) -> dict[str, Any]:
    return {
        **{name: getattr(imp, name) for name in ImportOut.model_fields if name not in ("source", "mapping")},
        "source": imp.source.name if imp.source else None,
        "mapping": {h: imp.mapping.get(h, "") for h in imp.headers},
    }


class PreviewRowOut(Schema):
    row: int
    payload: dict[str, Any]
    errors: dict[str, str]


class DryRunOut(Schema):
    total: int
    new: int
    update: int
    invalid: int
    unchanged: int
    problems: list[PreviewRowOut]


class MappingIn(Schema):
    mapping: dict[str, str]
    save_as: str = ""


class UndoOut(Schema):
    removed: int
    reverted: int
    kept: list[str]


def _import(request: HttpRequest, import_id: int, scope: str) -> Import:
    principal(request).require(scope)
    imp = Import.objects.select_related("source").filter(pk=import_id).first()
    if imp is None:
        raise HttpError(404, "Import not found.")
    return imp


@router.post("/imports", response={201: ImportOut}, summary="Upload a CSV, XLSX or vCard file to import")
def create_import(
    request: HttpRequest,
    *,
    file: File[UploadedFile],
    source: Form[str],
    mapping: Form[str] = "",
    start: Form[bool] = False,
    alert_owners: Form[bool] = False,
) -> Status[dict[str, Any]]:
    """The columns are mapped from the headers (or by `mapping`, a JSON object {header: target});
    `start=true` queues the run at once, otherwise check /preview and /dry-run first. With
    `alert_owners=true` the owners of the assigned leads are notified and their response clocks start
    (default: the leads are assigned quietly, as old contacts should be)."""
    caller = principal(request)
    caller.require(ApiScope.WRITE)
    columns = None
    if mapping:
        try:
            columns = json.loads(mapping)
        except ValueError:
            raise unprocessable({"mapping": "mapping must be a JSON object {header: target}."}) from None
        if not isinstance(columns, dict):
            raise unprocessable({"mapping": "mapping must be a JSON object {header: target}."})
    if not source.strip():
        raise unprocessable({"source": "Name the source of these leads."})
    if file.file is None:
        raise unprocessable({"file": "Attach the file to import."})
    try:
        imp = import_create(
            stream=file.file,
            file_name=file.name or "upload",
            source_name=source,
            mapping=columns,
            alert_owners=alert_owners,
        )
    except (ImportError_, ImportFileError) as err:
        raise unprocessable({"file": str(err)}) from None
    if start:
        imp = import_start(imp=imp, actor=caller.user)
    return Status(201, import_out(imp))


@router.get("/imports/{import_id}", response=ImportOut, summary="An import's status and progress")
def get_import(request: HttpRequest, import_id: int) -> dict[str, Any]:
    return import_out(_import(request, import_id, ApiScope.READ))


@router.put("/imports/{import_id}/mapping", response=ImportOut, summary="Correct the column mapping")
def set_mapping(request: HttpRequest, import_id: int, body: MappingIn) -> dict[str, Any]:
    imp = _import(request, import_id, ApiScope.WRITE)
    try:
        imp = import_set_mapping(
            imp=imp, mapping=body.mapping, save_as=body.save_as, actor=principal(request).user
        )
    except ImportError_ as err:
        raise unprocessable({"mapping": str(err)}) from None
    return import_out(imp)


@router.get("/imports/{import_id}/preview", response=list[PreviewRowOut], summary="First rows, with problems")
def preview(request: HttpRequest, import_id: int, limit: int = 20) -> list[dict[str, Any]]:
    imp = _import(request, import_id, ApiScope.READ)
    rows = import_preview(imp=imp, limit=max(1, min(limit, 200)))
    return [{"row": r.number, "payload": r.payload, "errors": r.errors} for r in rows]


@router.post(
    "/imports/{import_id}/dry-run", response=DryRunOut, summary="Count new, matching and invalid rows"
)
def dry_run(request: HttpRequest, import_id: int) -> dict[str, Any]:
    result = import_dry_run(imp=_import(request, import_id, ApiScope.READ))
    return {
        **{k: getattr(result, k) for k in ("total", "new", "update", "invalid", "unchanged")},
        "problems": [{"row": n, "payload": {}, "errors": e} for n, e in result.problems],
    }


@router.post(
    "/imports/{import_id}/run", response={202: ImportOut}, summary="Run the import in the background"
)
def run(request: HttpRequest, import_id: int, alert_owners: bool | None = None) -> Status[dict[str, Any]]:
    """`?alert_owners=true|false` changes whether the new owners are notified (default: as uploaded)."""
    imp = _import(request, import_id, ApiScope.WRITE)
    try:
        imp = import_start(imp=imp, actor=principal(request).user, alert_owners=alert_owners)
    except ImportError_ as err:
        raise HttpError(409, str(err)) from None
    return Status(202, import_out(imp))


@router.get("/imports/{import_id}/errors", summary="The error report (CSV, by row number)")
def errors(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = _import(request, import_id, ApiScope.READ)
    response = HttpResponse(import_error_report(imp=imp), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{imp.pk}-errors.csv"'
    return response


@router.post("/imports/{import_id}/undo", response=UndoOut, summary="Undo an import")
def undo(request: HttpRequest, import_id: int) -> dict[str, Any]:
    imp = _import(request, import_id, ApiScope.ADMIN)
    try:
        result = import_undo(imp=imp, actor=principal(request).user)
    except ImportError_ as err:
        raise HttpError(409, str(err)) from None
    return {"removed": result.removed, "reverted": result.reverted, "kept": result.kept}


class InboundEmailOut(Schema):
    id: int
    outcome: str
    reason: str
    sender: str
    subject: str
    message_id: str
    lead_id: int | None
    submission_id: int | None
    received_at: datetime


def inbound_out(record: InboundEmail) -> dict[str, Any]:
    return {name: getattr(record, name) for name in InboundEmailOut.model_fields}


@router.post("/inbound-emails", response={200: InboundEmailOut}, summary="Hand in one raw email (RFC 5322)")
def post_inbound_email(
    request: HttpRequest, message: File[UploadedFile], route: Form[str] = ""
) -> dict[str, Any]:
    """The message becomes a lead, an activity on a known lead, or a rejected-log entry (see `outcome`)."""
    caller = principal(request)
    caller.require(ApiScope.CAPTURE)
    inbound = None
    if route:
        inbound = InboundRoute.objects.filter(address__iexact=route).first()
        if inbound is None:
            raise unprocessable({"route": "No inbound route has this address."})
    record = email_ingest(raw=message.read(), route=inbound, origin="api", actor=caller.user)
    return inbound_out(record)


@router.get(
    "/inbound-emails", response=list[InboundEmailOut], summary="Inbound emails (the rejected log by default)"
)
def list_inbound_emails(
    request: HttpRequest, outcome: EmailOutcome = EmailOutcome.REJECTED, limit: int = 50
) -> list[dict[str, Any]]:
    principal(request).require(ApiScope.ADMIN)
    records = InboundEmail.objects.filter(outcome=outcome).defer("raw")[: max(1, min(limit, 200))]
    return [inbound_out(r) for r in records]
