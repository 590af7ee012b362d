"""REST endpoints of the intake flow: capture a lead, edit one, and work the quarantine."""

import json
from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.capture.services import (
    CaptureResult,
    LeadValidationError,
    SubmissionInProgress,
    lead_capture,
    lead_update,
    submission_replay,
)
from leadflow.core.api import unprocessable
from leadflow.leads.api import router as leads_router
from leadflow.leads.api import visible_lead
from leadflow.leads.models import Channel
from leadflow.leads.schemas import LeadOut, LeadSummary, lead_out, lead_summary

router = Router(tags=["submissions"], auth=AUTH)


class AttributionIn(Schema):
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    referrer: str | None = None
    landing_page: str | None = None
    gclid: str | None = None
    fbclid: str | None = None
    msclkid: str | None = None


class ConsentIn(Schema):
    granted: bool
    text: str = Field("", description="The exact wording shown to the lead, kept as proof.")
    method: str = Field("", description="How consent was given, e.g. 'signup form checkbox'.")


class LeadCaptureIn(Schema):
    """A lead as any source sends it. Every field is optional, but one of email, phone or
    external_id must identify the lead. Fields leadflow doesn't know are kept as extra data."""

    model_config = ConfigDict(extra="allow")

    external_id: str | None = Field(
        None, description="The lead's id in the sending system; matched per source."
    )
    source: str | None = Field(None, description="Source name; unknown names create a source.")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    website: str | None = None
    country: str | None = Field(None, description="ISO code or English name.")
    region: str | None = None
    city: str | None = None
    industry: str | None = None
    company_size: str | None = None
    annual_revenue: str | None = Field(
        None, description="A number; '1.5M', '250k' and '$1,000' are understood."
    )
    budget: str | None = None
    purchase_timeframe: str | None = None
    product_interest: str | None = None
    language: str | None = None
    timezone: str | None = Field(None, description="IANA time zone, e.g. Europe/Berlin.")
    custom: dict[str, Any] | None = Field(None, description="Values of custom fields, by key.")
    attribution: AttributionIn | None = None
    consent: dict[str, ConsentIn] | None = Field(None, description="Keyed by channel: email, sms.")


class LeadPatchIn(Schema):
    """Fields to change; send an empty string to clear one. Fields not sent stay as they are."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    website: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    industry: str | None = None
    company_size: str | None = None
    annual_revenue: str | None = None
    budget: str | None = None
    purchase_timeframe: str | None = None
    product_interest: str | None = None
    language: str | None = None
    timezone: str | None = None
    custom: dict[str, Any] | None = None


class CaptureOut(Schema):
    outcome: str = Field(..., description="created or updated")
    submission_id: int
    lead: LeadSummary
    replayed: bool = Field(False, description="True when an Idempotency-Key retry returned the first result.")


class SubmissionOut(Schema):
    id: int
    channel: str
    source: str | None
    status: str
    outcome: str
    errors: dict[str, Any]
    payload: Any
    raw_body: str
    original_payload: Any
    trace: list[dict[str, Any]]
    lead_id: int | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class SubmissionPage(Schema):
    items: list[SubmissionOut]


class ReplayIn(Schema):
    payload: dict[str, Any] | None = Field(None, description="A corrected payload; omit to replay as it is.")


def submission_out(submission: Submission) -> dict[str, Any]:
    data = {name: getattr(submission, name) for name in SubmissionOut.model_fields if name != "source"}
    data["source"] = submission.source.name if submission.source else None
    return data


def capture_response(result: CaptureResult) -> Status[dict[str, Any]] | JsonResponse:
    """201 or 200 with the lead; 422 with per-field messages and the quarantined submission's id."""
    submission = result.submission
    if result.quarantined:
        errors = submission.errors or {"body": "The submission was quarantined."}
        detail = unprocessable({k: str(v) for k, v in errors.items()}).errors
        return JsonResponse(
            {"detail": detail, "submission_id": submission.pk, "status": "quarantined"}, status=422
        )
    assert result.lead is not None
    body = {
        "outcome": submission.outcome,
        "submission_id": submission.pk,
        "lead": lead_summary(result.lead),
        "replayed": result.replayed,
    }
    return Status(201 if result.created else 200, body)


@leads_router.post(
    "/leads",
    tags=["capture"],
    response={200: CaptureOut, 201: CaptureOut},
    summary="Capture a lead",
    description=(
        "Runs the submission through the intake flow. 201 when a new lead was created, 200 when it "
        "matched an existing lead (by external_id, email or phone), which is updated. A submission that "
        "fails validation answers 422 with per-field messages and is kept in the quarantine for replay. "
        "Send an Idempotency-Key header to make retries safe."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LeadCaptureIn"}}},
        }
    },
)
def capture_lead(request: HttpRequest) -> Status[dict[str, Any]] | JsonResponse:
    caller = principal(request)
    caller.require(ApiScope.CAPTURE)
    raw = request.body.decode("utf-8", errors="replace")
    try:
        payload: Any = json.loads(raw)
        raw = ""
    except ValueError:
        payload = None
    key = request.headers.get("Idempotency-Key", "").strip()[:200] or None
    if key:  # each caller has its own key space
        key = (
            f"k{caller.api_key.pk}:{key}"
            if caller.api_key
            else f"u{caller.user.pk if caller.user else 0}:{key}"
        )
    try:
        result = lead_capture(
            payload=payload, raw_body=raw, channel=Channel.API, idempotency_key=key, actor=caller.user
        )
    except SubmissionInProgress:
        raise HttpError(
            409, "A request with this Idempotency-Key is still being processed; retry shortly."
        ) from None
    return capture_response(result)


@leads_router.patch("/leads/{lead_id}", response=LeadOut, summary="Update a lead")
def update_lead(request: HttpRequest, lead_id: int, body: LeadPatchIn) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        changes = body.model_dump(exclude_unset=True)
        # Fields the schema doesn't declare never reach it; pass them on so they get a clear 422.
        changes.update(
            {k: v for k, v in json.loads(request.body).items() if k not in LeadPatchIn.model_fields}
        )
        lead = lead_update(lead=lead, changes=changes, actor=principal(request).user)
    except LeadValidationError as err:
        raise unprocessable(err.errors) from None
    return lead_out(visible_lead(request, lead.pk, ApiScope.READ))


@router.get("/submissions", response=SubmissionPage, summary="List submissions (the quarantine by default)")
def list_submissions(
    request: HttpRequest, status: SubmissionStatus = SubmissionStatus.QUARANTINED, limit: int = 50
) -> dict[str, Any]:
    principal(request).require(ApiScope.ADMIN)
    submissions = Submission.objects.filter(status=status).select_related("source").order_by("-received_at")
    return {"items": [submission_out(s) for s in submissions[: max(1, min(limit, 200))]]}


@router.get("/submissions/{submission_id}", response=SubmissionOut, summary="Get a submission and its trace")
def get_submission(request: HttpRequest, submission_id: int) -> dict[str, Any]:
    principal(request).require(ApiScope.ADMIN)
    submission = Submission.objects.select_related("source").filter(pk=submission_id).first()
    if submission is None:
        raise HttpError(404, "Submission not found.")
    return submission_out(submission)


@router.post(
    "/submissions/{submission_id}/replay",
    response={200: CaptureOut, 201: CaptureOut},
    summary="Replay a quarantined submission",
)
def replay_submission(
    request: HttpRequest, submission_id: int, body: ReplayIn
) -> Status[dict[str, Any]] | JsonResponse:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None:
        raise HttpError(404, "Submission not found.")
    try:
        result = submission_replay(submission=submission, payload=body.payload, actor=caller.user)
    except ValueError as err:
        raise HttpError(409, str(err)) from None
    return capture_response(result)
