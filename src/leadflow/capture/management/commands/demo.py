"""`leadflow demo`: load a realistic, deterministic demo data set."""

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leadflow.capture.demo import DemoError, demo_load
from leadflow.leads.models import Lead


class Command(BaseCommand):
    help = "Load demo users, teams, sources, campaigns and leads (same seed, same data)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--leads", type=int, default=500, help="How many leads (default: %(default)s).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default: %(default)s).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing, successfully, when the database has leads."
        )

    def handle(self, *args: Any, leads: int, seed: int, if_empty: bool, **options: Any) -> None:
        if if_empty and Lead.objects.exists():
            self.stdout.write("Database already has leads; demo data not loaded.")
            return
        start = time.perf_counter()
        try:
            summary = demo_load(leads=leads, seed=seed)
        except DemoError as err:
            raise CommandError(str(err)) from None
        elapsed = time.perf_counter() - start
        total = sum(summary.leads_by_stage.values())
        self.stdout.write(f"Loaded the demo (seed {summary.seed}) in {elapsed:.1f} s.")
        self.stdout.write("Users (demo passwords, for trying leadflow only; never use them in production):")
        for user in summary.users:
            member_of = f", {', '.join(user.teams)}" if user.teams else ""
            self.stdout.write(f"  {user.username:<10} password {user.password:<10} {user.role}{member_of}")
        teams = [f"{name} (default)" if name == summary.default_team else name for name in summary.teams]
        self.stdout.write(f"Teams: {', '.join(teams)}")
        self.stdout.write("Sources: " + ", ".join(f"{name} ({cost:,.2f})" for name, cost in summary.sources))
        self.stdout.write(
            "Campaigns: " + ", ".join(f"{name} ({cost:,.2f})" for name, cost in summary.campaigns)
        )
        self.stdout.write(
            f"Leads: {total} from {summary.submissions} submissions "
            f"({summary.updates} updated a known lead, {summary.quarantined} quarantined for review)"
        )
        self.stdout.write(
            "Leads by stage: "
            + ", ".join(f"{stage} {count}" for stage, count in summary.leads_by_stage.items())
        )
