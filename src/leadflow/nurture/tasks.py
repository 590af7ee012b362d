"""Background nurture work: reacting to lead changes and activities, and running due enrollments."""

import datetime as dt
import uuid

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from leadflow.nurture import services
from leadflow.nurture.models import Enrollment, EnrollmentState, WatchdogChain


@task()
def leads_refresh(lead_ids: list[int], form_submitted: bool = False) -> None:
    """Segments, triggers, exits and waits for leads that changed or did something (idempotent)."""
    services.leads_refresh(lead_ids=lead_ids, form_submitted=form_submitted)


@task()
def run(enrollment_ids: list[int] | None = None) -> int:
    """Runs a batch of due enrollments; the batch schedules what comes next (the next batch, the waits)."""
    return services.enrollments_run(enrollment_ids=enrollment_ids)


@task()
def watchdog(chain: str) -> None:
    """Every LEADFLOW_NURTURE_WATCHDOG_SECONDS: picks up due enrollments nobody runs (a worker was killed
    and its lease ran out), then schedules itself again while it is the current chain."""
    if not WatchdogChain.objects.filter(pk=1, chain=chain).exists():
        return
    now = timezone.now()
    stranded = Enrollment.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        state=EnrollmentState.ACTIVE,
        due_at__lte=now,
    )
    if stranded.exists():
        services.enrollments_run()
    if watchdog.get_backend().supports_defer:
        delay = dt.timedelta(seconds=settings.LEADFLOW_NURTURE_WATCHDOG_SECONDS)
        watchdog.using(run_after=now + delay).enqueue(chain)


def watchdog_start(*, force: bool = False) -> None:
    """Starts a watchdog chain unless one is running (`force`: a new chain supersedes the old one)."""
    if not watchdog.get_backend().supports_defer:
        return
    if not force and WatchdogChain.objects.filter(pk=1).exists():
        return
    chain = uuid.uuid4().hex
    WatchdogChain.objects.update_or_create(pk=1, defaults={"chain": chain, "started_at": timezone.now()})
    watchdog.enqueue(chain)
