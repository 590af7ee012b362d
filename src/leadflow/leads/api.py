"""REST endpoints to read leads and work on them: list, detail, timeline, notes, activities, stage."""

from datetime import datetime
from typing import Any

from django.db.models import prefetch_related_objects
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.core.api import unprocessable
from leadflow.leads.models import ActivityKind, Lead, Stage
from leadflow.leads.models import Status as LeadStatus
from leadflow.leads.schemas import ActivityOut, LeadOut, activity_out, lead_out
from leadflow.leads.selectors import CursorError, LeadFilters, activity_timeline, lead_get, lead_list
from leadflow.leads.services import (
    StageChangeError,
    activity_create,
    lead_stage_change,
    lead_status_change,
    note_add,
)

router = Router(tags=["leads"], auth=AUTH)

# Kinds a caller may log by hand; system kinds (capture, assignment, merge …) are written by leadflow.
LOGGABLE_KINDS = [
    ActivityKind.NOTE,
    ActivityKind.CALL,
    ActivityKind.EMAIL,
    ActivityKind.MEETING,
    ActivityKind.TASK,
]


class LeadListParams(Schema):
    stage: Stage | None = None
    status: LeadStatus | None = None
    owner_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    source_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    score_min: int | None = None
    score_max: int | None = None
    q: str | None = Field(None, max_length=200, description="Free text over name, email and company.")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None


class ActivityPage(Schema):
    items: list[ActivityOut]
    next_cursor: str | None


class NoteIn(Schema):
    body: str = Field(..., min_length=1, max_length=10000)


class ActivityIn(Schema):
    kind: str = Field(..., description=f"One of: {', '.join(LOGGABLE_KINDS)}")
    summary: str = Field("", max_length=300)
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None


class StageIn(Schema):
    stage: Stage
    reason: str = Field("", max_length=500)


class StatusIn(Schema):
    status: LeadStatus
    reason: str = Field("", max_length=500)


def visible_lead(request: HttpRequest, lead_id: int, scope: str) -> Lead:
    """The lead if the caller may reach it with `scope`; 404 otherwise, so existence never leaks."""
    caller = principal(request)
    caller.require(scope)
    lead = lead_get(lead_id=lead_id, viewer=caller.viewer)
    if lead is None:
        raise HttpError(404, "Lead not found.")
    return lead


@router.get("/leads", response=LeadPage, summary="List leads")
def list_leads(request: HttpRequest, params: Query[LeadListParams]) -> dict[str, Any]:
    caller = principal(request)
    caller.require(ApiScope.READ)
    filters = LeadFilters(**params.dict(exclude={"cursor", "limit"}))
    try:
        page = lead_list(viewer=caller.viewer, filters=filters, cursor=params.cursor, limit=params.limit)
    except CursorError as err:
        raise unprocessable({"cursor": str(err)}, location="query") from None
    prefetch_related_objects(page.items, "first_touch__source", "last_touch__source")
    return {"items": [lead_out(lead) for lead in page.items], "next_cursor": page.next_cursor}


@router.get("/leads/{lead_id}", response=LeadOut, summary="Get a lead")
def get_lead(request: HttpRequest, lead_id: int) -> dict[str, Any]:
    return lead_out(visible_lead(request, lead_id, ApiScope.READ))


@router.get("/leads/{lead_id}/timeline", response=ActivityPage, summary="Read a lead's timeline")
def get_timeline(
    request: HttpRequest,
    lead_id: int,
    kind: list[str] = Query(None),  # noqa: B008
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.READ)
    try:
        page = activity_timeline(lead=lead, kinds=kind, cursor=cursor, limit=limit)
    except CursorError as err:
        raise unprocessable({"cursor": str(err)}, location="query") from None
    return {"items": [activity_out(a) for a in page.items], "next_cursor": page.next_cursor}


@router.post("/leads/{lead_id}/notes", response={201: ActivityOut}, summary="Add a note")
def add_note(request: HttpRequest, lead_id: int, body: NoteIn) -> Status[dict[str, Any]]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        activity = note_add(lead=lead, body=body.body, actor=principal(request).user)
    except ValueError as err:
        raise unprocessable({"body": str(err)}) from None
    return Status(201, activity_out(activity))


@router.post("/leads/{lead_id}/activities", response={201: ActivityOut}, summary="Log an activity")
def add_activity(request: HttpRequest, lead_id: int, body: ActivityIn) -> Status[dict[str, Any]]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    if body.kind not in LOGGABLE_KINDS:
        raise unprocessable({"kind": f"kind must be one of: {', '.join(LOGGABLE_KINDS)}."})
    activity = activity_create(
        lead=lead,
        kind=body.kind,
        summary=body.summary,
        payload=body.payload,
        actor=principal(request).user,
        occurred_at=body.occurred_at,
    )
    return Status(201, activity_out(activity))


@router.post("/leads/{lead_id}/stage", response=LeadOut, summary="Change the lifecycle stage")
def change_stage(request: HttpRequest, lead_id: int, body: StageIn) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        lead_stage_change(lead=lead, stage=body.stage, reason=body.reason, actor=principal(request).user)
    except StageChangeError as err:
        raise unprocessable({"reason" if body.stage in Stage.values else "stage": str(err)}) from None
    return lead_out(lead)


@router.post("/leads/{lead_id}/status", response=LeadOut, summary="Change the working status")
def change_status(request: HttpRequest, lead_id: int, body: StatusIn) -> dict[str, Any]:
    lead = visible_lead(request, lead_id, ApiScope.WRITE)
    try:
        lead_status_change(lead=lead, status=body.status, reason=body.reason, actor=principal(request).user)
    except StageChangeError as err:
        raise unprocessable({"status": str(err)}) from None
    return lead_out(lead)
