"""Recording behaviour events on a lead's timeline."""

from datetime import datetime
from typing import Any

from django.db import transaction

from leadflow.core.config import config_snapshot
from leadflow.leads.models import Activity, ActivityKind, Lead
from leadflow.leads.services import activity_create
from leadflow.nurture.services import activity_received
from leadflow.scoring.services import activity_score

PAGE_VIEW_EVENTS = {"page_view", "pageview", "page"}


@transaction.atomic
def event_record(
    *, lead: Lead, name: str, properties: dict[str, Any], occurred_at: datetime | None = None
) -> Activity:
    """Adds a behaviour event (page view, download, product usage …) to the timeline.

    Engagement rules that match it award their points and the lead's scores and stage update at once.
    """
    kind = ActivityKind.PAGE_VIEW if name.lower() in PAGE_VIEW_EVENTS else ActivityKind.EVENT
    if kind == ActivityKind.PAGE_VIEW:
        label = str(properties.get("url") or properties.get("path") or "a page")
    else:
        label = name
    activity = activity_create(
        lead=lead,
        kind=kind,
        summary=f"Viewed {label}" if kind == ActivityKind.PAGE_VIEW else f"Event: {label}",
        payload={"event": name, "properties": properties},
        occurred_at=occurred_at,
        defer=True,
    )
    with config_snapshot():  # inserts the activity, with its score entry when it earns points
        activity_score(lead=lead, activity=activity, unsaved=["last_activity_at"])
    activity_received(activity=activity)
    return activity
