"""`leadflow import-errors ID`: the error report of an import as CSV (row, field, problem)."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leadflow.capture.imports import import_error_report
from leadflow.capture.models import Import


class Command(BaseCommand):
    help = "Print an import's error report (CSV, by row number)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("import_id", type=int)

    def handle(self, *args: Any, import_id: int, **options: Any) -> None:
        imp = Import.objects.filter(pk=import_id).first()
        if imp is None:
            raise CommandError(f"No import {import_id}.")
        self.stdout.write(import_error_report(imp=imp), ending="")
