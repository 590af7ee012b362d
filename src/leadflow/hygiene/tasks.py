"""Background hygiene work: the full duplicate scan."""

from django_tasks import task

from leadflow.hygiene.services import duplicates_scan


@task()
def scan(auto_merge: bool = False) -> None:
    """Scores every blocked pair of leads and queues new pairs (idempotent: known pairs are skipped)."""
    duplicates_scan(auto_merge=auto_merge)
