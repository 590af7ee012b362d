"""`leadflow import FILE --source NAME [--mapping FILE]`: import a CSV, XLSX or vCard file."""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from leadflow.capture.import_files import ImportFileError
from leadflow.capture.imports import ImportError_, import_create, import_dry_run, import_execute
from leadflow.capture.models import Import


class Command(BaseCommand):
    help = "Import leads from a CSV, XLSX or vCard file through the intake flow, with a progress bar."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="The file (.csv, .xlsx or .vcf).")
        parser.add_argument("--source", required=True, help="Source name for the leads (created if new).")
        parser.add_argument(
            "--mapping", help='JSON file {"header": "target"}; default: recognised from the headers.'
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count new, matched and invalid rows only."
        )
        parser.add_argument(
            "--alert-owners",
            action="store_true",
            help="Notify the owners of the assigned leads and start their response clocks "
            "(default: the leads are assigned quietly).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, file: str, source: str, **options: Any) -> None:
        mapping = None
        if options["mapping"]:
            try:
                mapping = json.loads(Path(options["mapping"]).read_text())
            except (OSError, ValueError) as err:
                raise CommandError(f"Cannot read the mapping file: {err}") from err
            if not isinstance(mapping, dict):
                raise CommandError('The mapping file must be a JSON object {"header": "target"}.')
        try:
            with Path(file).open("rb") as stream:
                imp = import_create(
                    stream=stream,
                    file_name=file,
                    source_name=source,
                    mapping=mapping,
                    alert_owners=options["alert_owners"],
                )
        except OSError as err:
            raise CommandError(f"Cannot read {file}: {err}") from err
        except (ImportError_, ImportFileError) as err:
            raise CommandError(str(err)) from err
        mapped = ", ".join(f"{h} → {t}" for h, t in imp.mapping.items() if t) or "nothing"
        self.stdout.write(f"Import {imp.pk}: {imp.file_format}, columns mapped: {mapped}")
        if options["dry_run"]:
            dry = import_dry_run(imp=imp)
            self.stdout.write(
                f"Dry run: {dry.total} rows: {dry.new} new, {dry.update} to update, {dry.invalid} invalid, "
                f"{dry.unchanged} unchanged."
            )
            for number, errors in dry.problems[:20]:
                self.stdout.write(f"  row {number}: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
            return
        bar = tqdm(total=0, unit="row", disable=options["no_progress"], file=self.stderr._out)

        def progress(current: Import) -> None:
            bar.total = current.total_rows or 0
            bar.update(current.processed_rows - bar.n)

        try:
            imp = import_execute(import_id=imp.pk, on_progress=progress)
        finally:
            bar.close()
        self.stdout.write(f"Import {imp.pk}: {imp.summary}")
        if imp.invalid:
            self.stdout.write(f"Error report: leadflow import-errors {imp.pk} (or the Imports page).")
