"""Reads on how leads arrived: submissions with their intake trace, attribution and consent."""

from dataclasses import dataclass, field
from typing import Any

from leadflow.capture.models import Submission
from leadflow.leads.models import Consent, Lead, StageTransition, Touch


@dataclass(frozen=True)
class TraceStep:
    """One intake step's recorded outcome."""

    step: str
    status: str
    summary: str
    ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionTrace:
    submission: Submission
    steps: list[TraceStep]


@dataclass(frozen=True)
class LeadIntakeTrace:
    """A lead's newest submissions with their steps, and how many older ones were left out."""

    submissions: list[SubmissionTrace]
    total: int

    @property
    def older_count(self) -> int:
        return self.total - len(self.submissions)

    def latest_step(self, name: str) -> TraceStep | None:
        """The most recent outcome of step `name` (a replay appends later entries to a trace)."""
        for item in self.submissions:
            for step in reversed(item.steps):
                if step.step == name:
                    return step
        return None


def _trace_steps(trace: Any) -> list[TraceStep]:
    entries = trace if isinstance(trace, list) else []
    return [
        TraceStep(
            step=str(entry.get("step", "")),
            status=str(entry.get("status", "")),
            summary=str(entry.get("summary", "")),
            ms=entry.get("ms"),
            detail=entry.get("detail") or {},
        )
        for entry in entries
        if isinstance(entry, dict)
    ]


def submission_trace_for_lead(*, lead: Lead, limit: int = 10) -> LeadIntakeTrace:
    """The lead's submissions, newest first (at most `limit`), each with its ordered intake steps."""
    submissions = list(
        Submission.objects.filter(lead=lead)
        .select_related("source")
        .defer("payload", "raw_body", "original_payload")
        .order_by("-received_at", "-id")[:limit]
    )
    total = len(submissions)
    if total == limit:
        total = Submission.objects.filter(lead=lead).count()
    return LeadIntakeTrace(
        submissions=[SubmissionTrace(submission=s, steps=_trace_steps(s.trace)) for s in submissions],
        total=total,
    )


@dataclass(frozen=True)
class LeadAttribution:
    first_touch: Touch | None
    last_touch: Touch | None
    consents: list[Consent]


def lead_attribution(*, lead: Lead) -> LeadAttribution:
    """The lead's first and last touch (with their sources) and its consent per channel."""
    touch_ids = [pk for pk in (lead.first_touch_id, lead.last_touch_id) if pk is not None]
    touches = Touch.objects.select_related("source").in_bulk(touch_ids) if touch_ids else {}
    return LeadAttribution(
        first_touch=touches.get(lead.first_touch_id) if lead.first_touch_id else None,
        last_touch=touches.get(lead.last_touch_id) if lead.last_touch_id else None,
        consents=list(Consent.objects.filter(lead=lead).order_by("channel")),
    )


def lead_transition_log(*, lead: Lead, limit: int = 50) -> list[StageTransition]:
    """The lead's stage and status changes, newest first: from, to, who, when and why."""
    return list(
        StageTransition.objects.filter(lead=lead)
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:limit]
    )
