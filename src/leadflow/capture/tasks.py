"""Background work of the file channels: running an import, polling IMAP mailboxes."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from leadflow.capture.email_intake import route_poll
from leadflow.capture.imports import import_execute
from leadflow.capture.models import InboundRoute


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
