"""Writes on leads: field values, timeline, stages, consent, tasks.

These are the primitives; the intake flow in capture orchestrates them for every source.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from leadflow.access.models import User
from leadflow.leads.models import (
    FUNNEL,
    RESPONSE_KINDS,
    Activity,
    ActivityKind,
    Consent,
    Lead,
    Stage,
    StageTransition,
    Status,
)


class StageChangeError(ValueError):
    """A stage or status change that is not allowed; str(err) says why."""


def lead_apply_values(*, lead: Lead, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Sets the given standard fields in memory, never overwriting a value with a blank.

    Returns the changes as {field: [old, new]} (JSON-ready).
    """
    changes: dict[str, list[Any]] = {}
    for name, new in values.items():
        if new is None or new == "":
            continue
        value = Decimal(str(new)) if name == "annual_revenue" else new
        old = getattr(lead, name)
        if old != value:
            setattr(lead, name, value)
            changes[name] = [_jsonable(old), _jsonable(value)]
    return changes


def lead_apply_custom(
    *, lead: Lead, custom: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Merges validated custom values and unknown extra data in memory; returns the changes.

    Keys of the changes are "custom.<key>" and "extra.<key>", so callers know which JSON field to save.
    """
    changes: dict[str, list[Any]] = {}
    for key, new in custom.items():
        if new is not None and lead.custom.get(key) != new:
            changes[f"custom.{key}"] = [lead.custom.get(key), new]
            lead.custom[key] = new
    for key, new in extra.items():
        if lead.extra.get(key) != new:
            changes[f"extra.{key}"] = [lead.extra.get(key), new]
            lead.extra[key] = new
    return changes


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


def activity_create(
    *,
    lead: Lead,
    kind: str,
    summary: str = "",
    payload: dict[str, Any] | None = None,
    actor: User | None = None,
    submission_id: int | None = None,
    occurred_at: datetime | None = None,
    defer: bool = False,
) -> Activity:
    """Appends to the timeline; a call, email or meeting by a person counts as the first response.

    With `defer=True` nothing is written: the activity comes back unsaved and the lead's new timestamps
    are only set on `lead`, for a caller that writes both with its own rows (fewer round trips).
    """
    occurred_at = occurred_at or timezone.now()
    activity = Activity(
        lead=lead,
        kind=kind,
        summary=summary[:300],
        payload=payload or {},
        actor=actor,
        submission_id=submission_id,
        occurred_at=occurred_at,
    )
    fields = {"last_activity_at": occurred_at}
    if kind in RESPONSE_KINDS and actor is not None and lead.first_response_at is None:
        fields["first_response_at"] = occurred_at
    if not defer:
        activity.save()
        Lead.objects.filter(pk=lead.pk).update(**fields)
    for name, value in fields.items():
        setattr(lead, name, value)
    return activity


def note_add(*, lead: Lead, body: str, actor: User | None) -> Activity:
    body = body.strip()
    if not body:
        raise ValueError("A note needs some text.")
    return activity_create(
        lead=lead, kind=ActivityKind.NOTE, summary=body[:300], payload={"body": body}, actor=actor
    )


def is_backward(current: str, target: str) -> bool:
    """True when moving from `current` to `target` goes back in the funnel (or out of it)."""
    if target in {Stage.RECYCLED, Stage.DISQUALIFIED}:
        return True
    order = [stage.value for stage in FUNNEL]
    if current not in order or target not in order:
        return False
    return order.index(target) < order.index(current)


@transaction.atomic
def lead_stage_change(
    *, lead: Lead, stage: str, reason: str = "", actor: User | None
) -> StageTransition | None:
    """Moves the lifecycle stage; a step back (recycle, disqualify, lower stage) needs a reason."""
    if stage not in Stage.values:
        raise StageChangeError(f"Unknown stage {stage!r}; choose from {', '.join(Stage.values)}.")
    if stage == lead.stage:
        return None
    reason = reason.strip()
    if is_backward(lead.stage, stage) and not reason:
        raise StageChangeError(f"Moving from {lead.stage} to {stage} is a step back and needs a reason.")
    now = timezone.now()
    transition = StageTransition.objects.create(
        lead=lead,
        field=StageTransition.Field.STAGE,
        from_value=lead.stage,
        to_value=stage,
        actor=actor,
        reason=reason,
        occurred_at=now,
    )
    previous, lead.stage = lead.stage, stage
    update_fields = ["stage", "updated_at"]
    if stage in {Stage.MQL, Stage.SQL} and lead.qualified_at is None:
        lead.qualified_at = now
        update_fields.append("qualified_at")
    if stage in {Stage.OPPORTUNITY, Stage.CUSTOMER} and lead.converted_at is None:
        lead.converted_at = now
        update_fields.append("converted_at")
    lead.save(update_fields=update_fields)
    activity_create(
        lead=lead,
        kind=ActivityKind.STAGE_CHANGE,
        summary=f"Stage {previous} → {stage}" + (f": {reason}" if reason else ""),
        payload={"from": previous, "to": stage, "reason": reason},
        actor=actor,
        occurred_at=now,
    )
    return transition


@transaction.atomic
def lead_status_change(
    *, lead: Lead, status: str, reason: str = "", actor: User | None
) -> StageTransition | None:
    """Moves the working status; a person changing it counts as responding to the lead."""
    if status not in Status.values:
        raise StageChangeError(f"Unknown status {status!r}; choose from {', '.join(Status.values)}.")
    if status == lead.status:
        return None
    now = timezone.now()
    transition = StageTransition.objects.create(
        lead=lead,
        field=StageTransition.Field.STATUS,
        from_value=lead.status,
        to_value=status,
        actor=actor,
        reason=reason.strip(),
        occurred_at=now,
    )
    previous, lead.status = lead.status, status
    update_fields = ["status", "updated_at"]
    if actor is not None and lead.first_response_at is None:
        lead.first_response_at = now
        update_fields.append("first_response_at")
    lead.save(update_fields=update_fields)
    activity_create(
        lead=lead,
        kind=ActivityKind.STATUS_CHANGE,
        summary=f"Status {previous} → {status}" + (f": {reason.strip()}" if reason.strip() else ""),
        payload={"from": previous, "to": status, "reason": reason.strip()},
        actor=actor,
        occurred_at=now,
    )
    return transition


def consent_record(
    *,
    lead: Lead,
    channel: str,
    state: str,
    method: str,
    text_shown: str = "",
    submission_id: int | None = None,
    actor: User | None = None,
) -> Consent:
    """Sets a channel's consent with its proof and notes the change on the timeline."""
    consent, _ = Consent.objects.update_or_create(
        lead=lead,
        channel=channel,
        defaults={
            "state": state,
            "method": method,
            "text_shown": text_shown,
            "submission_id": submission_id,
            "recorded_at": timezone.now(),
        },
    )
    activity_create(
        lead=lead,
        kind=ActivityKind.CONSENT,
        summary=f"{channel} consent: {state} ({method})",
        payload={"channel": channel, "state": state, "method": method, "text_shown": text_shown},
        actor=actor,
        submission_id=submission_id,
    )
    return consent
