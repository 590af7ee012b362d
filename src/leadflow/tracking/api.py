"""REST endpoint for behaviour events, addressed by lead id or email."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field, model_validator

from leadflow.access.api import AUTH, principal
from leadflow.access.models import ApiScope
from leadflow.core.api import unprocessable
from leadflow.hygiene.normalize import NormalizationError, normalize_email
from leadflow.leads.models import IdentityKind
from leadflow.leads.schemas import ActivityOut, activity_out
from leadflow.leads.selectors import lead_visible
from leadflow.tracking.services import event_record

router = Router(tags=["events"], auth=AUTH)


class EventIn(Schema):
    lead_id: int | None = None
    email: str | None = Field(None, max_length=254)
    name: str = Field(..., min_length=1, max_length=100, description="e.g. page_view, whitepaper_download")
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None

    @model_validator(mode="after")
    def lead_given(self) -> "EventIn":
        if self.lead_id is None and not self.email:
            raise ValueError("Give lead_id or email.")
        return self


@router.post("/events", response={201: ActivityOut}, summary="Record a behaviour event for a lead")
def record_event(request: HttpRequest, body: EventIn) -> Status[dict[str, Any]]:
    caller = principal(request)
    caller.require(ApiScope.CAPTURE)
    leads = lead_visible(viewer=caller.viewer)
    if body.lead_id is not None:
        lead = leads.filter(pk=body.lead_id).first()
    else:
        assert body.email is not None
        try:
            _, email = normalize_email(body.email)
        except NormalizationError as err:
            raise unprocessable({"email": str(err)}) from None
        lead = leads.filter(identities__kind=IdentityKind.EMAIL, identities__value=email).first()
    if lead is None:
        if body.lead_id is None:
            raise unprocessable({"email": "No lead has this email."})
        raise HttpError(404, "Lead not found.")
    activity = event_record(
        lead=lead, name=body.name, properties=body.properties, occurred_at=body.occurred_at
    )
    return Status(201, activity_out(activity))
