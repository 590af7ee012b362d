"""Import benchmark: a generated CSV through the whole bulk intake flow on PostgreSQL, against a raw COPY.

    python benchmarks/import_csv.py [--rows 1000000] [--existing-share 0.05] [--invalid-share 0.01]
                                    [--batch-size 1000] [--json out.json] [--profile]

In a new PostgreSQL database (`leadflow_bench_<pid>`, dropped afterwards) with a default team of 5 reps:

1. seeds existing leads (--existing-share of --rows, through leads_capture_bulk);
2. writes a CSV of --rows rows with HubSpot export headers: new people, people who already are leads
   (matched by email and updated) and invalid rows (a broken email), shuffled together;
3. times `leadflow import` as the CLI runs it: import_create (keep the file, detect, map) and
   import_execute (every row: persist raw → normalize → identify against existing leads → upsert →
   score → qualify → route → follow-ups), reading the peak resident memory of the process;
4. times a raw `COPY … FROM STDIN (FORMAT csv)` of the same file into an unindexed table of text columns,
   in the same database and run.

Targets: ≥ 15,000 rows/s and peak memory ≤ 1 GB. The ratio to COPY says how far the flow is from
the database's own loading speed on this machine.
"""

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import PG_ADMIN_URL, fresh_database, lead_payload, machine_summary, seed_team, table, verdict

TARGET_ROWS_PER_S = 15_000
TARGET_PEAK_MB = 1024
HEADERS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Company Name",
    "Job Title",
    "Website URL",
    "City",
    "Country/Region",
    "Number of Employees",
    "Original Source",
]


def _row(payload: dict[str, Any], record_id: str) -> list[str]:
    return [
        record_id,
        payload["first_name"],
        payload["last_name"],
        payload["email"],
        payload["phone"],
        payload["company"],
        payload["job_title"],
        payload["website"],
        payload["city"],
        payload["country"],
        payload["company_size"],
        payload["attribution"]["utm_source"],
    ]


def write_csv(path: Path, *, rows: int, existing: int, invalid_share: float) -> dict[str, int]:
    """Rows in a fixed interleaving: every k-th an existing lead, every m-th invalid, the rest new."""
    counts = {"new": 0, "existing": 0, "invalid": 0}
    every_existing = max(1, round(rows / existing)) if existing else 0
    every_invalid = max(1, round(1 / invalid_share)) if invalid_share else 0
    seen_existing = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADERS)
        for i in range(rows):
            if every_existing and i % every_existing == 0 and seen_existing < existing:
                payload = lead_payload(seen_existing, "seed", revision=1)
                seen_existing += 1
                counts["existing"] += 1
            else:
                payload = lead_payload(1_000_000 + i, "csv")
                if every_invalid and i % every_invalid == 1:
                    payload["email"] = f"broken-{i}@"
                    payload["phone"] = ""
                    counts["invalid"] += 1
                else:
                    counts["new"] += 1
            writer.writerow(_row(payload, f"r{i}"))
    return counts


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed(existing: int) -> float:
    from leadflow.capture.services import leads_capture_bulk

    start = time.perf_counter()
    leads_capture_bulk(payloads=(lead_payload(i, "seed") for i in range(existing)), channel="import")
    return time.perf_counter() - start


def _copy(path: Path) -> float:
    from django.db import connection

    columns = ", ".join(f"c{i} text" for i in range(len(HEADERS)))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_raw_copy ({columns})")
        start = time.perf_counter()
        with (
            path.open("rb") as file,
            cursor.cursor.copy("COPY bench_raw_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - start
        cursor.execute("SELECT count(*) FROM bench_raw_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_raw_copy")
    return elapsed if copied else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        fresh_database("postgres", pg_admin_url=args.pg_admin_url) as overrides,
        tempfile.TemporaryDirectory(prefix="leadflow-import-bench-") as tmp,
    ):
        os.environ.update(overrides)
        os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        try:
            call_command("migrate", verbosity=0)
            seed_team()
            existing = round(args.rows * args.existing_share)
            seed_s = _seed(existing)
            path = Path(tmp) / "leads.csv"
            start = time.perf_counter()
            expected = write_csv(path, rows=args.rows, existing=existing, invalid_share=args.invalid_share)
            generate_s = time.perf_counter() - start
            size_mb = path.stat().st_size / 1e6
            print(f"seeded {existing} leads in {seed_s:.1f} s", file=sys.stderr)
            print(f"wrote {size_mb:.0f} MB CSV in {generate_s:.1f} s", file=sys.stderr)
            return _measure(args, path, expected, existing, seed_s)
        finally:
            connections.close_all()


def _measure(
    args: argparse.Namespace, path: Path, expected: dict[str, int], existing: int, seed_s: float
) -> dict[str, Any]:
    from leadflow.capture.imports import import_create, import_execute
    from leadflow.leads.models import Lead

    rss_before = _rss_mb()
    profiler = cProfile.Profile() if args.profile else None
    last_report = [0.0]

    def progress(imp: Any) -> None:
        now = time.perf_counter()
        if now - last_report[0] > 10:
            last_report[0] = now
            print(f"  {imp.processed_rows}/{imp.total_rows} rows, {_rss_mb():.0f} MB", file=sys.stderr)

    sql_time: dict[str, list[float]] = {}

    def timed_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = sql_time.setdefault(" ".join(sql.split())[:70], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - begin

    from django.db import connection

    wrapper = connection.execute_wrapper(timed_sql) if args.sql else None
    if wrapper:
        wrapper.__enter__()
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    with path.open("rb") as file:
        imp = import_create(stream=file, file_name="leads.csv", source_name="Benchmark list")
    imp = import_execute(import_id=imp.pk, on_progress=progress)
    if profiler:
        profiler.disable()
    import_s, import_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    if wrapper:
        wrapper.__exit__(None, None, None)
        for statement, (count, seconds) in sorted(sql_time.items(), key=lambda kv: -kv[1][1])[:25]:
            print(f"{seconds:8.2f} s {count:6d}× {statement}", file=sys.stderr)
    peak_mb = _rss_mb()
    copy_s = _copy(path)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(
            45
        )
        print(out.getvalue(), file=sys.stderr)
    leads = Lead.objects.count()
    return {
        "rows": args.rows,
        "expected": expected,
        "counts": {"created": imp.created, "updated": imp.updated, "invalid": imp.invalid},
        "leads_after": leads,
        "correct": (imp.created, imp.updated, imp.invalid)
        == (expected["new"], expected["existing"], expected["invalid"])
        and leads == existing + expected["new"],
        "seed_s": round(seed_s, 2),
        "import_s": round(import_s, 2),
        "rows_per_s": round(args.rows / import_s),
        "import_cpu_s": round(import_cpu_s, 2),
        "rows_per_cpu_s": round(args.rows / import_cpu_s),
        "copy_s": round(copy_s, 3),
        "copy_rows_per_s": round(args.rows / copy_s),
        "ratio_to_copy": round(import_s / copy_s, 1),
        "rss_before_mb": round(rss_before),
        "peak_rss_mb": round(peak_mb),
    }


def report(result: dict[str, Any]) -> None:
    print(
        table(
            ["measure", "value"],
            [
                ["rows", f"{result['rows']:,}"],
                [
                    "expected new / existing / invalid",
                    " / ".join(f"{v:,}" for v in result["expected"].values()),
                ],
                [
                    "imported created / updated / invalid",
                    " / ".join(f"{v:,}" for v in result["counts"].values()),
                ],
                ["result correct", result["correct"]],
                ["import (full intake flow)", f"{result['import_s']} s, {result['rows_per_s']:,} rows/s"],
                [
                    "leadflow process CPU (rows per CPU-second)",
                    f"{result['import_cpu_s']} s ({result['rows_per_cpu_s']:,} rows/CPU-s)",
                ],
                ["raw COPY of the same file", f"{result['copy_s']} s, {result['copy_rows_per_s']:,} rows/s"],
                ["import time / COPY time", f"{result['ratio_to_copy']}×"],
                [
                    "peak RSS (process; before import)",
                    f"{result['peak_rss_mb']} MB ({result['rss_before_mb']} MB)",
                ],
            ],
        )
    )
    print(
        f"\nthroughput ≥ {TARGET_ROWS_PER_S:,} rows/s: {verdict(result['rows_per_s'] >= TARGET_ROWS_PER_S)}"
    )
    print(f"peak memory ≤ {TARGET_PEAK_MB} MB: {verdict(result['peak_rss_mb'] <= TARGET_PEAK_MB)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing-share", type=float, default=0.05, help="share of rows that match a lead")
    parser.add_argument("--invalid-share", type=float, default=0.01)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--profile", action="store_true", help="cProfile the import (slower)")
    parser.add_argument("--sql", action="store_true", help="time the SQL statements of the import")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    machine = machine_summary()
    print(f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, leadflow {machine['git']}")
    result = run(args)
    report(result)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "config": vars(args) | {"json": str(args.json)},
                                         "result": result}, indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
