"""API shapes of a lead and its timeline, shared by every app's endpoints."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Field, Schema

from leadflow.leads.models import Activity, Lead, Touch


class UserRef(Schema):
    id: int
    username: str
    name: str


class NamedRef(Schema):
    id: int
    name: str


class TouchOut(Schema):
    channel: str
    source: str | None
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    referrer: str
    landing_page: str
    gclid: str
    fbclid: str
    msclkid: str
    occurred_at: datetime


class LeadSummary(Schema):
    id: int
    stage: str
    status: str
    score: int
    owner: UserRef | None


class ConversionFactor(Schema):
    feature: str
    value: Any = None
    weight: float
    text: str = ""


class LeadOut(Schema):
    id: int
    first_name: str
    last_name: str
    email: str
    email_normalized: str
    phone: str
    phone_e164: str
    company: str
    company_domain: str
    job_title: str
    website: str
    country: str
    region: str
    city: str
    industry: str
    company_size: str
    annual_revenue: Decimal | None
    budget: str
    purchase_timeframe: str
    product_interest: str
    language: str
    timezone: str
    custom: dict[str, Any]
    extra: dict[str, Any]
    stage: str
    status: str
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    conversion_probability: float | None = Field(
        None, description="Calibrated probability of converting, from the latest predictive model."
    )
    conversion_factors: list[ConversionFactor] = Field(
        default_factory=list, description="The prediction's top factors (weight in log-odds)."
    )
    predicted_at: datetime | None = None
    prediction_model: str = ""
    is_test: bool
    owner: UserRef | None
    team: NamedRef | None
    source: NamedRef | None
    first_touch: TouchOut | None
    last_touch: TouchOut | None
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None
    first_response_at: datetime | None
    qualified_at: datetime | None
    converted_at: datetime | None
    last_activity_at: datetime | None


class ActivityOut(Schema):
    id: int
    kind: str
    occurred_at: datetime
    actor: UserRef | None
    summary: str
    payload: dict[str, Any]
    submission_id: int | None


def user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name() or user.username}


def touch_out(touch: Touch | None) -> dict[str, Any] | None:
    if touch is None:
        return None
    data = {name: getattr(touch, name) for name in TouchOut.model_fields if name != "source"}
    data["source"] = touch.source.name if touch.source_id and touch.source else None
    return data


def lead_summary(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "stage": lead.stage,
        "status": lead.status,
        "score": lead.score,
        "owner": user_ref(lead.owner),
    }


def lead_out(lead: Lead) -> dict[str, Any]:
    data = {name: getattr(lead, name) for name in LeadOut.model_fields}
    data["owner"] = user_ref(lead.owner)
    data["team"] = {"id": lead.team.pk, "name": lead.team.name} if lead.team else None
    data["source"] = {"id": lead.source.pk, "name": lead.source.name} if lead.source else None
    data["first_touch"] = touch_out(lead.first_touch)
    data["last_touch"] = touch_out(lead.last_touch)
    return data


def activity_out(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "kind": activity.kind,
        "occurred_at": activity.occurred_at,
        "actor": user_ref(activity.actor),
        "summary": activity.summary,
        "payload": activity.payload,
        "submission_id": activity.submission_id,
    }
