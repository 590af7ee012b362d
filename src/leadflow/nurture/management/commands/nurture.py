"""`leadflow nurture`: run due enrollments now, start the watchdog, feed a bounce message, print stats."""

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leadflow.nurture.models import NurtureCampaign
from leadflow.nurture.selectors import campaign_stats
from leadflow.nurture.services import bounce_process, enrollments_run
from leadflow.nurture.tasks import watchdog_start


class Command(BaseCommand):
    help = "Nurture campaigns: run, watchdog, bounce, stats."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("run", help="Run every due enrollment now, in batches, in this process.")
        sub.add_parser(
            "watchdog", help="(Re)start the task chain that resumes enrollments a killed worker left."
        )
        bounce = sub.add_parser(
            "bounce", help="Parse a bounce message (file, or - for stdin) and suppress its addresses."
        )
        bounce.add_argument("path")
        stats = sub.add_parser("stats", help="Per-step statistics of a campaign.")
        stats.add_argument("campaign", help="Campaign name or id.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "run":
            total = 0
            while taken := enrollments_run():
                total += taken
            self.stdout.write(f"Ran {total} enrollments.")
        elif action == "watchdog":
            watchdog_start(force=True)
            self.stdout.write("Watchdog started.")
        elif action == "bounce":
            path = options["path"]
            raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
            found = bounce_process(raw=raw)
            self.stdout.write(f"Suppressed: {', '.join(found)}" if found else "No bounced address found.")
        else:
            key = options["campaign"]
            campaign = (
                NurtureCampaign.objects.filter(pk=int(key) if key.isdigit() else 0).first()
                or NurtureCampaign.objects.filter(name=key).first()
            )
            if campaign is None:
                raise CommandError(f"No campaign {key!r}.")
            stats = campaign_stats(campaign=campaign)
            self.stdout.write(" ".join(f"{k}={v}" for k, v in stats.totals().items()))
            for step in stats.steps:
                self.stdout.write(
                    f"{step.number}. {step.label}: waiting {step.reached}, sent {step.sent}, "
                    f"delivered {step.delivered}, opened {step.opened}, clicked {step.clicked}, "
                    f"unsubscribed {step.unsubscribed}, failing {step.failed}"
                )
