"""`leadflow recover`: finishes the submissions a dead process left unprocessed (the worker does it too)."""

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand

from leadflow.capture.services import submissions_recover


class Command(BaseCommand):
    help = "Run submissions still 'received' after --older-than seconds through the intake flow again."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than", type=int, default=60, help="seconds since the raw save (default: %(default)s)"
        )

    def handle(self, *args: Any, older_than: int, **options: Any) -> None:
        taken = submissions_recover(stuck_after=timedelta(seconds=max(older_than, 0)))
        ids = ", ".join(map(str, taken))
        self.stdout.write(f"Recovered {len(taken)} submission(s){': ' + ids if taken else ''}.")
