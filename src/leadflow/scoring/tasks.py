"""Background scoring work: rescoring every lead after a rule change, and periodic decay."""

from django.utils import timezone
from django_tasks import task

from leadflow.scoring.models import ScoringPolicy
from leadflow.scoring.services import DECAY_INTERVAL, decay_apply, rescore_execute


@task()
def rescore(run_id: int, engagement: bool = True) -> None:
    """Recomputes every lead's scores for a RescoreRun (idempotent: a finished run is left alone)."""
    rescore_execute(run_id=run_id, engagement=engagement)


@task()
def decay(chain: str) -> None:
    """Applies score decay, then schedules itself again (with run_after) while it is the current chain.

    Started by `leadflow scoring decay --start` (or the rules page); `leadflow scoring decay` runs one
    pass, for cron. A superseded chain (another was started since) stops instead of doubling up.
    """
    if not ScoringPolicy.objects.filter(pk=1, decay_chain=chain).exists():
        return
    decay_apply()
    if decay.get_backend().supports_defer:
        decay.using(run_after=timezone.now() + DECAY_INTERVAL).enqueue(chain)
