"""Background webhook work: fetching Meta leads from the Graph API."""

from django_tasks import task

from leadflow.capture.webhooks import meta_lead_sync


@task()
def meta_lead_fetch(sync_id: int) -> None:
    """Fetches and captures one announced Meta lead (idempotent: a synced lead is left alone)."""
    meta_lead_sync(sync_id=sync_id)
