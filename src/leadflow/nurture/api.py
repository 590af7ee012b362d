"""REST endpoints of nurture (admin scope): segments and lists, templates, campaigns, enrollment, statistics,
bounce messages."""

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.core.api import unprocessable
from leadflow.leads.selectors import lead_visible
from leadflow.nurture.models import NurtureCampaign, Segment, Template
from leadflow.nurture.selectors import STAT_NAMES, campaign_stats
from leadflow.nurture.services import (
    NurtureError,
    bounce_process,
    campaign_save,
    leads_enroll,
    list_add,
    segment_save,
    template_render,
    template_save,
)

router = Router(tags=["nurture"], auth=AUTH)


def _admin(request: HttpRequest) -> Any:
    caller = principal(request)
    caller.require(ApiScope.ADMIN)
    return caller


class SegmentIn(Schema):
    name: str = Field(..., max_length=200)
    kind: str = Field("dynamic", description="dynamic (a condition) or static (a list)")
    condition: dict[str, Any] | None = None


class SegmentOut(SegmentIn):
    id: int
    size: int


class LeadIdsIn(Schema):
    lead_ids: list[int] = Field(default_factory=list, max_length=100_000)
    segment_id: int | None = Field(None, description="Enroll every member of this segment or list.")


class TemplateIn(Schema):
    name: str = Field(..., max_length=200)
    channel: str = "email"
    subject: str = ""
    html: str = ""
    text: str


class TemplateOut(TemplateIn):
    id: int


class PreviewOut(Schema):
    subject: str
    text: str
    html: str


class CampaignIn(Schema):
    name: str = Field(..., max_length=200)
    status: str = "draft"
    trigger: dict[str, Any] = Field(default_factory=lambda: {"type": "manual"})
    exit_goals: list[str] = Field(default_factory=list)
    steps: list[dict[str, Any]] = Field(default_factory=list)


class CampaignOut(CampaignIn):
    id: int


def _segment_out(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.pk,
        "name": segment.name,
        "kind": segment.kind,
        "condition": segment.condition,
        "size": segment.memberships.count(),
    }


@router.get("/nurture/segments", response=list[SegmentOut], summary="Segments and lists with their sizes")
def segments(request: HttpRequest) -> list[dict[str, Any]]:
    _admin(request)
    return [_segment_out(s) for s in Segment.objects.all()]


@router.post("/nurture/segments", response={201: SegmentOut}, summary="Create a segment or list")
def segment_create(request: HttpRequest, body: SegmentIn) -> Status:
    caller = _admin(request)
    try:
        segment = segment_save(values=body.dict(), actor=caller.viewer)
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return Status(201, _segment_out(segment))


@router.post(
    "/nurture/segments/{segment_id}/members", response=SegmentOut, summary="Add leads to a static list"
)
def segment_add(request: HttpRequest, segment_id: int, body: LeadIdsIn) -> dict[str, Any]:
    caller = _admin(request)
    segment = get_object_or_404(Segment, pk=segment_id)
    ids = lead_visible(viewer=caller.viewer).filter(pk__in=body.lead_ids).values_list("pk", flat=True)
    try:
        list_add(segment=segment, lead_ids=ids, actor=caller.viewer, added_by="bulk")
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return _segment_out(segment)


def _template_out(t: Template) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "channel": t.channel,
        "subject": t.subject,
        "html": t.html,
        "text": t.text,
    }


@router.get("/nurture/templates", response=list[TemplateOut], summary="Message templates")
def templates(request: HttpRequest) -> list[dict[str, Any]]:
    _admin(request)
    return [_template_out(t) for t in Template.objects.all()]


@router.post("/nurture/templates", response={201: TemplateOut}, summary="Create a template")
def template_create(request: HttpRequest, body: TemplateIn) -> Status:
    """422 names every unknown placeholder, per part."""
    caller = _admin(request)
    try:
        template = template_save(values=body.dict(), actor=caller.viewer)
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return Status(201, _template_out(template))


@router.put("/nurture/templates/{template_id}", response=TemplateOut, summary="Change a template")
def template_update(request: HttpRequest, template_id: int, body: TemplateIn) -> dict[str, Any]:
    caller = _admin(request)
    template = get_object_or_404(Template, pk=template_id)
    try:
        template_save(template=template, values=body.dict(), actor=caller.viewer)
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return _template_out(template)


@router.get(
    "/nurture/templates/{template_id}/preview", response=PreviewOut, summary="Render for a sample lead"
)
def template_preview(request: HttpRequest, template_id: int, lead_id: int) -> dict[str, str]:
    caller = _admin(request)
    template = get_object_or_404(Template, pk=template_id)
    lead = get_object_or_404(lead_visible(viewer=caller.viewer), pk=lead_id)
    rendered = template_render(template=template, lead=lead)
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}


def _campaign_out(c: NurtureCampaign) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "status": c.status,
        "trigger": c.trigger,
        "exit_goals": c.exit_goals,
        "steps": c.steps,
    }


@router.get("/nurture/campaigns", response=list[CampaignOut], summary="Campaigns")
def campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    _admin(request)
    return [_campaign_out(c) for c in NurtureCampaign.objects.all()]


@router.post("/nurture/campaigns", response={201: CampaignOut}, summary="Create a campaign")
def campaign_create(request: HttpRequest, body: CampaignIn) -> Status:
    caller = _admin(request)
    try:
        campaign = campaign_save(values=body.dict(), actor=caller.viewer)
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return Status(201, _campaign_out(campaign))


@router.put("/nurture/campaigns/{campaign_id}", response=CampaignOut, summary="Change a campaign")
def campaign_update(request: HttpRequest, campaign_id: int, body: CampaignIn) -> dict[str, Any]:
    caller = _admin(request)
    campaign = get_object_or_404(NurtureCampaign, pk=campaign_id)
    try:
        campaign_save(campaign=campaign, values=body.dict(), actor=caller.viewer)
    except NurtureError as err:
        raise unprocessable(err.errors) from None
    return _campaign_out(campaign)


@router.post(
    "/nurture/campaigns/{campaign_id}/enrollments", summary="Enroll leads (by id or a segment's members)"
)
def campaign_enroll(request: HttpRequest, campaign_id: int, body: LeadIdsIn) -> dict[str, int]:
    caller = _admin(request)
    campaign = get_object_or_404(NurtureCampaign, pk=campaign_id)
    visible = lead_visible(viewer=caller.viewer)
    leads = visible.filter(pk__in=body.lead_ids)
    if body.segment_id is not None:
        leads = visible.filter(segment_memberships__segment_id=body.segment_id)
    return {
        "enrolled": leads_enroll(campaign=campaign, lead_ids=leads.values_list("pk", flat=True), reason="API")
    }


@router.get("/nurture/campaigns/{campaign_id}/stats", summary="Totals and per-step statistics")
def campaign_statistics(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    _admin(request)
    stats = campaign_stats(campaign=get_object_or_404(NurtureCampaign, pk=campaign_id))
    return {
        "totals": {name: stats.totals()[name] for name in STAT_NAMES},
        "exited": stats.exited,
        "steps": [vars(step) for step in stats.steps],
    }


@router.post(
    "/nurture/bounces", summary="A bounce message (message/rfc822 body); its addresses are suppressed"
)
def bounce(request: HttpRequest) -> dict[str, list[str]]:
    _admin(request)
    return {"suppressed": bounce_process(raw=request.body)}
