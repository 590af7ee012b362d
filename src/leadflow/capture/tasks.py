"""Background work of the capture app: running an import, polling IMAP mailboxes, recovering submissions."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from leadflow.capture.email_intake import route_poll
from leadflow.capture.imports import import_execute
from leadflow.capture.models import InboundRoute, RecoveryChain
from leadflow.capture.services import submissions_recover


@task()
def import_run_task(import_id: int) -> None:
    """Runs an import (idempotent: a finished import is left alone, captured rows are skipped)."""
    import_execute(import_id=import_id)


@task()
def inbound_poll_task(route_id: int, chain: str = "") -> None:
    """Fetches one route's unseen IMAP messages. A task of the route's polling chain (`chain`, its token)
    then schedules the next poll while the route is active; a superseded chain ends (a restarted worker
    or a re-enabled route started a new one). Without a chain it is a one-off poll."""
    route = InboundRoute.objects.filter(pk=route_id).first()
    if route is None or (chain and route.poll_chain != chain):
        return
    route_poll(route_id=route_id)
    active = InboundRoute.objects.filter(pk=route_id, is_active=True).exclude(imap_host="").exists()
    if chain and active and inbound_poll_task.get_backend().supports_defer:
        run_after = timezone.now() + timedelta(seconds=settings.LEADFLOW_IMAP_POLL_SECONDS)
        inbound_poll_task.using(run_after=run_after).enqueue(route_id, chain)


@task()
def submissions_recover_task(chain: str) -> None:
    """Every LEADFLOW_RECOVER_SECONDS: finishes the submissions a dead process left unprocessed, then
    schedules itself again while it is the current chain."""
    if not RecoveryChain.objects.filter(pk=1, chain=chain).exists():
        return
    submissions_recover()
    if submissions_recover_task.get_backend().supports_defer:
        run_after = timezone.now() + timedelta(seconds=settings.LEADFLOW_RECOVER_SECONDS)
        submissions_recover_task.using(run_after=run_after).enqueue(chain)


def recovery_start() -> None:
    """Starts a new recovery chain; the running one ends at its next run (the worker calls this on start)."""
    if not submissions_recover_task.get_backend().supports_defer:
        return
    chain = uuid.uuid4().hex
    RecoveryChain.objects.update_or_create(pk=1, defaults={"chain": chain, "started_at": timezone.now()})
    submissions_recover_task.enqueue(chain)
