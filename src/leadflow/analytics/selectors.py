"""Headline figures over all leads."""

from dataclasses import dataclass

from django.db.models import Count

from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.leads.models import Lead, Stage


@dataclass(frozen=True)
class Overview:
    leads: int
    unassigned: int
    quarantined: int
    by_stage: list[tuple[str, int]]


def overview() -> Overview:
    counts = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    return Overview(
        leads=sum(counts.values()),
        unassigned=Lead.objects.filter(owner__isnull=True).count(),
        quarantined=Submission.objects.filter(status=SubmissionStatus.QUARANTINED).count(),
        by_stage=[(label, counts.get(value, 0)) for value, label in Stage.choices],
    )
