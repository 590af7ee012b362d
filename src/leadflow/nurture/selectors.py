"""Reads for nurture: campaign statistics per step, failures, segment sizes."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from leadflow.leads.models import Lead
from leadflow.nurture.models import (
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentState,
    NurtureCampaign,
    Segment,
)

STAT_NAMES = ("enrolled", "sent", "delivered", "opened", "clicked", "converted", "unsubscribed")


@dataclass
class StepStats:
    number: int
    label: str
    reached: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class CampaignStats:
    enrolled: int
    active: int
    completed: int
    converted: int
    exited: dict[str, int]
    steps: list[StepStats] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "enrolled": self.enrolled,
            "sent": sum(s.sent for s in self.steps),
            "delivered": sum(s.delivered for s in self.steps),
            "opened": sum(s.opened for s in self.steps),
            "clicked": sum(s.clicked for s in self.steps),
            "converted": self.converted,
            "unsubscribed": sum(s.unsubscribed for s in self.steps),
        }


def step_label(step: dict[str, Any]) -> str:
    kind = step.get("type", "?")
    if kind == "wait":
        if "minutes" in step:
            return f"Wait {step['minutes']} min" + (
                " or until condition" if "until_condition" in step else ""
            )
        return "Wait until " + (str(step["until"]) if "until" in step else "the window opens")
    if kind == "branch":
        return f"Branch → {step.get('then')} / {step.get('else')}"
    if kind in {"email", "sms"}:
        return f"Send {kind} (template {step.get('template_id')})"
    return kind.capitalize() + (f": {step['title']}" if "title" in step else "")


def campaign_stats(*, campaign: NurtureCampaign) -> CampaignStats:
    """Per campaign and per step: enrolled, sent, delivered (sent, not bounced), opened, clicked,
    converted (exit goal), unsubscribed (from this campaign's messages), failed and skipped."""
    states = dict(
        Enrollment.objects.filter(campaign=campaign)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    exits = dict(
        Enrollment.objects.filter(campaign=campaign, state=EnrollmentState.EXITED)
        .values_list("exit_reason")
        .annotate(n=Count("pk"))
        .values_list("exit_reason", "n")
    )
    stats = CampaignStats(
        enrolled=sum(states.values()),
        active=states.get(EnrollmentState.ACTIVE, 0),
        completed=states.get(EnrollmentState.COMPLETED, 0),
        converted=exits.get("converted", 0) + exits.get("became_sql", 0),
        exited=exits,
        steps=[StepStats(number=i + 1, label=step_label(s)) for i, s in enumerate(campaign.steps)],
    )
    rows = (
        Delivery.objects.filter(campaign=campaign)
        .values("step")
        .annotate(
            sent=Count("pk", filter=Q(status__in=[DeliveryStatus.SENT, DeliveryStatus.BOUNCED])),
            delivered=Count("pk", filter=Q(status=DeliveryStatus.SENT)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            replied=Count("pk", filter=Q(replied_at__isnull=False)),
            unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
            skipped=Count("pk", filter=Q(status=DeliveryStatus.SKIPPED)),
        )
    )
    for row in rows:
        if row["step"] < len(stats.steps):
            step = stats.steps[row.pop("step")]
            for name, value in row.items():
                setattr(step, name, value)
    at_step = dict(
        Enrollment.objects.filter(campaign=campaign, state=EnrollmentState.ACTIVE)
        .values_list("step")
        .annotate(n=Count("pk"))
        .values_list("step", "n")
    )
    for step in stats.steps:
        step.reached = at_step.get(step.number - 1, 0)
    return stats


def campaign_failures(*, campaign: NurtureCampaign | None = None, limit: int = 20) -> QuerySet[Enrollment]:
    """Enrollments retrying a failed step (SMTP down, provider errors), newest error first."""
    failing = Enrollment.objects.filter(state=EnrollmentState.ACTIVE, attempts__gt=0).select_related(
        "lead", "campaign"
    )
    if campaign is not None:
        failing = failing.filter(campaign=campaign)
    return failing.order_by("-attempts", "due_at")[:limit]


def segments_with_sizes() -> QuerySet[Segment]:
    return Segment.objects.annotate(size=Count("memberships"))


def segment_members(*, segment: Segment, visible: QuerySet[Lead], limit: int = 100) -> QuerySet[Lead]:
    return visible.filter(segment_memberships__segment=segment).order_by("-segment_memberships__joined_at")[
        :limit
    ]


def campaigns_with_counts() -> QuerySet[NurtureCampaign]:
    return NurtureCampaign.objects.annotate(
        enrolled=Count("enrollments", distinct=True),
        failing=Count(
            "enrollments",
            filter=Q(enrollments__attempts__gt=0, enrollments__state=EnrollmentState.ACTIVE),
            distinct=True,
        ),
    )


def delivery_replied_to(*, message_ids: Iterable[str], lead_id: int | None = None) -> Delivery | None:
    """The campaign email an inbound message answers (its In-Reply-To/References), optionally the lead's."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    deliveries = Delivery.objects.filter(message_id__in=ids).select_related("lead")
    if lead_id is not None:
        deliveries = deliveries.filter(lead_id=lead_id)
    return deliveries.order_by("-created_at").first()
