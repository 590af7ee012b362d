"""`leadflow dedupe`: the duplicate-detection engine on CSV files without the database, or (--scan) over
every lead in the database."""

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from leadflow.hygiene.matching import DEFAULT_CONFIG, MatchConfig, dedupe_records
from leadflow.hygiene.services import duplicates_scan


class Command(BaseCommand):
    help = "Find duplicate records in a CSV (or links between two CSVs) and write the scored pairs."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", type=Path, help="CSV with a header row.")
        parser.add_argument("--id-column", help="The column that identifies a record.")
        parser.add_argument("--output", type=Path, help="CSV to write: left_id, right_id, …")
        parser.add_argument("--link", type=Path, help="A second CSV: link records across the two files.")
        parser.add_argument(
            "--config", type=Path, help="JSON matching configuration (default: the lead fields)."
        )
        parser.add_argument(
            "--threshold", type=float, help="Lowest probability written (default: the review threshold)."
        )
        parser.add_argument(
            "--train", action="store_true", help="Learn weights and prior from the data (EM)."
        )
        parser.add_argument("--write-config", type=Path, help="Write the (trained) configuration here.")
        scan = parser.add_argument_group("database scan")
        scan.add_argument(
            "--scan", action="store_true", help="Check every lead in the database for duplicates."
        )
        scan.add_argument(
            "--auto-merge", action="store_true", help="With --scan: merge pairs above auto_merge."
        )
        scan.add_argument("--enqueue", action="store_true", help="With --scan: run it as a background task.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["scan"]:
            self._scan(auto_merge=options["auto_merge"], enqueue=options["enqueue"])
            return
        for name in ("input", "id_column", "output"):
            if not options[name]:
                raise CommandError(f"--{name.replace('_', '-')} is required (or use --scan).")
        config = self._config(options["config"])
        left = self._read(options["input"], options["id_column"])
        right = self._read(options["link"], options["id_column"]) if options["link"] else None
        missing = [name for name in config.referenced_fields if name.partition(".")[0] not in left.columns]
        if missing:
            self.stderr.write(f"Columns not in {options['input']}, treated as empty: {', '.join(missing)}")
        threshold = options["threshold"]
        if threshold is not None and not 0 <= threshold <= 1:
            raise CommandError("--threshold must be between 0 and 1.")
        pairs, matcher = dedupe_records(
            config,
            left.to_dict("records"),
            left[options["id_column"]].tolist(),
            other=right.to_dict("records") if right is not None else None,
            other_ids=right[options["id_column"]].tolist() if right is not None else None,
            threshold=threshold,
            train=options["train"],
        )
        pairs.to_csv(options["output"], index=False, float_format="%.6f")
        if options["write_config"]:
            options["write_config"].write_text(json.dumps(matcher.config.to_dict(), indent=2))
        merges = int((pairs["decision"] == "merge").sum())
        self.stdout.write(
            f"{len(pairs)} pairs written to {options['output']}: {merges} above the auto-merge threshold "
            f"({matcher.config.auto_merge:g}), {len(pairs) - merges} for review."
        )

    def _scan(self, *, auto_merge: bool, enqueue: bool) -> None:
        if enqueue:
            from leadflow.hygiene.tasks import scan

            result = scan.enqueue(auto_merge)
            self.stdout.write(f"Duplicate scan queued as task {result.id}.")
            return
        start = time.perf_counter()
        outcome = duplicates_scan(auto_merge=auto_merge)
        self.stdout.write(
            f"Scanned {outcome.leads} leads ({outcome.pairs_compared} blocked pairs compared) in "
            f"{time.perf_counter() - start:.1f} s: {outcome.candidates} new pairs to review, "
            f"{outcome.merged} merged automatically."
        )

    @staticmethod
    def _config(path: Path | None) -> MatchConfig:
        if path is None:
            return DEFAULT_CONFIG
        try:
            return MatchConfig.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"Cannot read the configuration {path}: {exc}") from exc

    @staticmethod
    def _read(path: Path, id_column: str) -> pd.DataFrame:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if id_column not in frame.columns:
            raise CommandError(f"{path} has no column {id_column!r}.")
        return frame
