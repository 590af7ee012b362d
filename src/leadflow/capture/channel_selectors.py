"""Reads for the sources screens: each source's counts, last submission and failures."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from leadflow.capture.channel_models import FormPost, MetaLeadSync, RejectedDelivery, SyncStatus
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.leads.models import Lead, Source


@dataclass
class SourceRow:
    source: Source
    kind: str
    leads: int
    submissions: int
    last_submission_at: datetime | None
    quarantined: int
    spam: int
    failed_syncs: int
    rejected: int

    @property
    def failures(self) -> int:
        return self.quarantined + self.spam + self.failed_syncs + self.rejected


def source_overview() -> list[SourceRow]:
    """Every source with its channel, counts, last submission and failures."""
    submissions = Submission.objects.filter(source=OuterRef("pk"))
    sources = (
        Source.objects.select_related("web_form", "webhook")
        .annotate(
            lead_count=_grouped(Lead.objects.filter(source=OuterRef("pk")), "source"),
            submission_count=_grouped(submissions, "source"),
            quarantined=_grouped(submissions.filter(status=SubmissionStatus.QUARANTINED), "source"),
            last_at=Subquery(
                submissions.order_by().values("source").annotate(m=Max("received_at")).values("m")[:1]
            ),
            spam=_grouped(
                FormPost.objects.filter(form__source=OuterRef("pk")).exclude(spam_reason=""), "form__source"
            ),
            failed_syncs=_grouped(
                MetaLeadSync.objects.filter(endpoint__source=OuterRef("pk"), status=SyncStatus.FAILED),
                "endpoint__source",
            ),
            rejected=_grouped(
                RejectedDelivery.objects.filter(endpoint__source=OuterRef("pk")), "endpoint__source"
            ),
        )
        .order_by("name")
    )
    rows = []
    for source in sources:
        kind = ""
        if hasattr(source, "web_form"):
            kind = "Web form"
        elif hasattr(source, "webhook"):
            kind = source.webhook.get_kind_display()
        rows.append(
            SourceRow(
                source=source,
                kind=kind,
                leads=source.lead_count,
                submissions=source.submission_count,
                last_submission_at=source.last_at,
                quarantined=source.quarantined,
                spam=source.spam,
                failed_syncs=source.failed_syncs,
                rejected=source.rejected,
            )
        )
    return rows


def _grouped(queryset: QuerySet[Any], group: str) -> Coalesce:
    return Coalesce(
        Subquery(
            queryset.order_by().values(group).annotate(n=Count("pk")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def source_submissions(*, source: Source, status: str = "", limit: int = 50) -> list[Submission]:
    submissions = Submission.objects.filter(source=source).select_related("lead").order_by("-received_at")
    if status:
        submissions = submissions.filter(status=status)
    return list(submissions[:limit])


def source_failed_syncs(*, source: Source, limit: int = 50) -> list[MetaLeadSync]:
    return list(
        MetaLeadSync.objects.filter(endpoint__source=source)
        .filter(~Q(status=SyncStatus.DONE))
        .order_by("-updated_at")[:limit]
    )


def source_rejections(*, source: Source, limit: int = 50) -> list[RejectedDelivery]:
    return list(RejectedDelivery.objects.filter(endpoint__source=source).order_by("-received_at")[:limit])


def source_spam(*, source: Source, limit: int = 50) -> list[FormPost]:
    return list(
        FormPost.objects.filter(form__source=source).exclude(spam_reason="").order_by("-received_at")[:limit]
    )
