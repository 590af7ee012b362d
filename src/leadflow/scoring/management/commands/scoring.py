"""`leadflow scoring decay [--start]` and `leadflow scoring rescore`: scoring upkeep from the command line."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from leadflow.scoring.models import RescoreRun
from leadflow.scoring.services import decay_apply, decay_chain_start, rescore_execute


class Command(BaseCommand):
    help = (
        "decay: apply score decay once (for cron), or --start the self-rescheduling decay task "
        "on the worker; rescore: recompute every lead's scores now."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        decay = sub.add_parser("decay", help="Apply score decay.")
        decay.add_argument("--start", action="store_true", help="Start the hourly decay task on the worker.")
        sub.add_parser("rescore", help="Recompute every lead's scores in this process.")

    def handle(self, *args: Any, action: str, start: bool = False, **options: Any) -> None:
        if action == "decay" and start:
            with transaction.atomic():
                chain = decay_chain_start()
            self.stdout.write(f"Decay task {chain} enqueued; the worker runs it hourly from now on.")
        elif action == "decay":
            self.stdout.write(f"Decay applied: {decay_apply()} leads' engagement changed.")
        else:
            run = RescoreRun.objects.create(reason="Rescore from the command line")
            run = rescore_execute(run_id=run.pk)
            self.stdout.write(f"Rescored {run.done} leads.")
