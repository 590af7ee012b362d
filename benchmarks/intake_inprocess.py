"""In-process intake benchmark: the time per lead of capture.services.lead_capture.

    python benchmarks/intake_inprocess.py [--db sqlite|postgres|both] [--leads 2000] [--json out.json]
                                          [--profile N] [--queries]

On a freshly migrated database with a default team of 5 reps, it times the whole intake flow
(persist raw → normalize → identify → upsert → score → qualify → route → follow-ups) without HTTP:

* per lead, new leads: lead_capture() of --leads new payloads, one by one;
* per lead, updates: the same people again (same email and phone, a few changed fields);
* bulk: capture.services.leads_capture_bulk() over --leads new rows, then over the same rows again;

and aggregates the submissions' `trace` (each step's ms) into a median per step. --profile N adds a
cProfile of N more new captures; --queries prints the SQL of one new and one updated capture.
Each database runs in its own child process (Django is set up once per process).
Target: in-process intake ≤ 5 ms median.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchlib import (
    DB_CHOICES,
    PG_ADMIN_URL,
    fresh_database,
    lead_payload,
    machine_summary,
    percentile,
    selected_dbs,
    table,
    verdict,
)

MEDIAN_TARGET_MS = 5.0
STEPS = ("persist_raw", "normalize", "identify", "upsert", "score", "qualify", "route", "follow_ups")
WARMUP_LEADS = 50
# Phone numbers derive from the sequence number, so every group of leads gets its own range.
SEQ_BASE = {
    "single": 0,
    "bulk": 1_000_000,
    "sql": 2_000_000,
    "profile": 3_000_000,
    "warm": 4_000_000,
    "api": 5_000_000,
}
SQL_SAMPLE = 200  # captures timed with the SQL wrapper
API_SAMPLE = 1000  # captures through the API layer (django.test.Client)


def _stats(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered), 3) if ordered else float("nan"),
        "p90_ms": round(percentile(ordered, 90), 3),
        "p99_ms": round(percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3) if ordered else float("nan"),
        "mean_ms": round(statistics.fmean(ordered), 3) if ordered else float("nan"),
    }


def _step_medians(traces: Iterable[list[dict[str, Any]]]) -> dict[str, float]:
    """The median ms of every step over the traces; steps missing from a trace count as absent."""
    by_step: dict[str, list[float]] = defaultdict(list)
    for trace in traces:
        for entry in trace:
            if isinstance(entry.get("ms"), int | float):
                by_step[entry["step"]].append(float(entry["ms"]))
    return {step: round(statistics.median(values), 4) for step, values in by_step.items()}


# --- child: one database ---------------------------------------------------------------------------


def run_child(db: str, leads: int, profile: int, show_queries: bool, pg_admin_url: str) -> dict[str, Any]:
    with fresh_database(db, pg_admin_url=pg_admin_url) as overrides:
        os.environ.update(overrides)
        os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
        os.environ.pop("LEADFLOW_SQLITE_PATH", None)
        if db == "sqlite":
            os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        from django.db import connections

        try:
            return _measure(db, leads, profile, show_queries)
        finally:
            connections.close_all()


class _SqlTimer:
    """An execute wrapper: the statements run and the time spent inside the database driver."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, float]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((sql, (time.perf_counter() - start) * 1000))


def _measure(db: str, leads: int, profile: int, show_queries: bool) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from benchlib import seed_team
    from leadflow.capture.models import Submission
    from leadflow.capture.services import lead_capture, leads_capture_bulk
    from leadflow.leads.models import Channel, Lead

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    api_key = seed_team(5)
    print(f"[{db}] migrated and seeded in {time.perf_counter() - started:.1f} s", flush=True)

    def capture_one(payload: dict[str, Any], *, expect_created: bool) -> tuple[float, list[dict[str, Any]]]:
        start = time.perf_counter()
        result = lead_capture(payload=payload, channel=Channel.API)
        elapsed = (time.perf_counter() - start) * 1000
        if result.quarantined or result.created != expect_created:
            raise RuntimeError(
                f"Unexpected capture result: {result.submission.status} {result.submission.errors}"
            )
        return elapsed, result.submission.trace

    for seq in range(WARMUP_LEADS):
        capture_one(lead_payload(SEQ_BASE["warm"] + seq, "warm"), expect_created=True)

    # 1. one lead at a time: new leads, then the same people again (updates)
    per_lead: dict[str, dict[str, Any]] = {}
    for mode, revision in (("new", 0), ("update", 1)):
        times, traces = [], []
        start, cpu_start = time.perf_counter(), time.process_time()
        for seq in range(leads):
            payload = lead_payload(SEQ_BASE["single"] + seq, "single", revision=revision)
            ms, trace = capture_one(payload, expect_created=revision == 0)
            times.append(ms)
            traces.append(trace)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        per_lead[mode] = {
            **_stats(times),
            "leads_per_s": round(leads / wall, 1),
            "process_cpu_ms_per_lead": round(cpu * 1000 / leads, 3),
            "steps": _step_medians(traces),
        }
        print(
            f"[{db}] per lead, {mode:6s}: median {per_lead[mode]['median_ms']:.2f} ms, "
            f"p99 {per_lead[mode]['p99_ms']:.2f} ms",
            flush=True,
        )

    # 2. the bulk form over as many rows, new then again as updates
    bulk: dict[str, dict[str, Any]] = {}
    for mode, revision in (("new", 0), ("update", 1)):
        payloads = [lead_payload(SEQ_BASE["bulk"] + seq, "bulk", revision=revision) for seq in range(leads)]
        start = time.perf_counter()
        result = leads_capture_bulk(payloads=payloads, channel=Channel.IMPORT)
        wall = time.perf_counter() - start
        expected = (leads, 0) if revision == 0 else (0, leads)
        if (result.created, result.updated) != expected or result.quarantined:
            raise RuntimeError(
                f"Unexpected bulk result: {result.created=} {result.updated=} {result.quarantined=}"
            )
        traces = Submission.objects.filter(pk__in=result.submission_ids).values_list("trace", flat=True)
        bulk[mode] = {
            "rows": leads,
            "seconds": round(wall, 3),
            "rows_per_s": round(leads / wall, 1),
            "ms_per_row": round(wall * 1000 / leads, 4),
            "steps": _step_medians(traces),
        }
        print(f"[{db}] bulk, {mode:6s}: {bulk[mode]['rows_per_s']:.0f} rows/s", flush=True)

    # 3. SQL per capture: statements and time inside the driver (a sample, with a timing wrapper)
    sample = min(SQL_SAMPLE, leads)
    sql: dict[str, dict[str, Any]] = {}
    for mode, revision in (("new", 0), ("update", 1)):
        timer = _SqlTimer()
        total = 0.0
        with connection.execute_wrapper(timer):
            for seq in range(sample):
                payload = lead_payload(SEQ_BASE["sql"] + seq, "sql", revision=revision)
                total += capture_one(payload, expect_created=revision == 0)[0]
            first = len(timer.statements) // sample
        sql[mode] = {
            "captures": sample,
            "statements_per_capture": round(len(timer.statements) / sample, 2),
            "driver_ms_per_capture": round(sum(ms for _, ms in timer.statements) / sample, 3),
            "total_ms_per_capture": round(total / sample, 3),
            "statements": [s for s, _ in timer.statements[-first:]] if show_queries else [],
        }

    # 4. the same capture through the API layer (middleware, auth, ninja, response), without HTTP
    client = Client(HTTP_HOST="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    api_count = min(API_SAMPLE, leads)
    api_times: dict[str, list[float]] = {"healthz": [], "capture": []}
    for seq in range(api_count + WARMUP_LEADS):
        start = time.perf_counter()
        response = client.get("/healthz")
        healthz_ms = (time.perf_counter() - start) * 1000
        body = json.dumps(lead_payload(SEQ_BASE["api"] + seq, "api"))
        start = time.perf_counter()
        created = client.post("/api/v1/leads", body, content_type="application/json", **auth)  # type: ignore[arg-type]
        capture_ms = (time.perf_counter() - start) * 1000
        if response.status_code != 200 or created.status_code != 201:
            raise RuntimeError(
                f"API answered {response.status_code} / {created.status_code}: {created.content!r}"
            )
        if seq >= WARMUP_LEADS:
            api_times["healthz"].append(healthz_ms)
            api_times["capture"].append(capture_ms)
    api = {name: _stats(times) for name, times in api_times.items()}
    print(f"[{db}] via the API layer: capture median {api['capture']['median_ms']:.2f} ms", flush=True)

    profile_text = ""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for seq in range(profile):
            lead_capture(payload=lead_payload(SEQ_BASE["profile"] + seq, "profile"), channel=Channel.API)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
        profile_text = out.getvalue()

    return {
        "db": db,
        "leads": leads,
        "lead_rows": Lead.objects.count(),
        "per_lead": per_lead,
        "bulk": bulk,
        "sql": sql,
        "api": api,
        "profile": profile_text,
    }


# --- parent: run the children and report ------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> None:
    for res in results:
        db, per_lead, bulk = res["db"], res["per_lead"], res["bulk"]
        print(f"\n## {db}: intake flow in process, {res['leads']} leads per measurement")
        rows: list[list[Any]] = [
            [
                f"per lead, {mode}",
                s["median_ms"],
                s["p90_ms"],
                s["p99_ms"],
                s["max_ms"],
                s["mean_ms"],
                s["leads_per_s"],
                s["process_cpu_ms_per_lead"],
            ]
            for mode, s in per_lead.items()
        ]
        rows += [
            [f"bulk, {mode}", b["ms_per_row"], "", "", "", b["ms_per_row"], b["rows_per_s"], ""]
            for mode, b in bulk.items()
        ]
        print(
            table(["", "median ms", "p90 ms", "p99 ms", "max ms", "mean ms", "leads/s", "CPU ms/lead"], rows)
        )
        for mode in ("new", "update"):
            ratio = per_lead[mode]["mean_ms"] / bulk[mode]["ms_per_row"]
            res.setdefault("per_lead_to_bulk", {})[mode] = round(ratio, 2)
            print(f"per-lead / bulk time per lead ({mode}): {ratio:.1f}x")
        medians = (per_lead["new"]["median_ms"], per_lead["update"]["median_ms"])
        res["target_median_le_5ms"] = max(medians) <= MEDIAN_TARGET_MS
        print(
            f"median per new lead {medians[0]:.2f} ms, per update {medians[1]:.2f} ms "
            f"(target ≤ {MEDIAN_TARGET_MS:g} ms: {verdict(res['target_median_le_5ms'])})"
        )
        sql = res["sql"]
        print(
            f"\n## {db}: SQL per capture (sample of {sql['new']['captures']} captures with a timing wrapper)"
        )
        print(
            table(
                ["", "statements", "ms in the DB driver", "total ms", "driver share"],
                [
                    [mode, q["statements_per_capture"], q["driver_ms_per_capture"], q["total_ms_per_capture"],
                     f"{100 * q['driver_ms_per_capture'] / q['total_ms_per_capture']:.0f} %"]
                    for mode, q in sql.items()
                ],
            )
        )  # fmt: skip
        print("(COMMIT is not a statement: its time is in the total, not in the driver column.)")
        api = res["api"]
        print(f"\n## {db}: through the API layer in process (django.test.Client, no HTTP), new leads")
        print(
            table(
                ["", "count", "median ms", "p90 ms", "p99 ms", "mean ms"],
                [
                    [name, v["count"], v["median_ms"], v["p90_ms"], v["p99_ms"], v["mean_ms"]]
                    for name, v in api.items()
                ],
            )
        )
        layer = api["capture"]["median_ms"] - per_lead["new"]["median_ms"] - api["healthz"]["median_ms"]
        print(
            f"API layer on top of the intake flow (capture − intake − healthz, medians): {layer:.2f} ms "
            "(auth, ninja, the response)"
        )

        print(f"\n## {db}: median ms per step (from the submissions' trace; bulk = amortized per row)")
        columns = [
            per_lead["new"]["steps"],
            per_lead["update"]["steps"],
            bulk["new"]["steps"],
            bulk["update"]["steps"],
        ]
        step_rows: list[list[Any]] = [[step, *(c.get(step, float("nan")) for c in columns)] for step in STEPS]
        sums = [sum(c.get(step, 0.0) for step in STEPS) for c in columns]
        totals = [per_lead["new"]["median_ms"], per_lead["update"]["median_ms"],
                  bulk["new"]["ms_per_row"], bulk["update"]["ms_per_row"]]  # fmt: skip
        step_rows.append(["sum of steps", *sums])
        step_rows.append(["outside the steps*", *(t - s for t, s in zip(totals, sums, strict=True))])
        print(table(["step", "per lead new", "per lead update", "bulk new", "bulk update"], step_rows))
        print(
            "* median (per lead) or mean (bulk) total minus the sum of step medians: the transaction and its"
        )
        print("  commit, saving the submission's trace and status, IntakeFlow setup (custom field specs).")

        for mode, q in sql.items():
            if q["statements"]:
                print(f"\n## {db}: SQL of one {mode} capture")
                for statement in q["statements"]:
                    print(f"  {statement[:150]}")
        if res["profile"]:
            print(f"\n## {db}: cProfile\n{res['profile']}")

    if len(results) > 1:
        print("\n## summary")
        print(
            table(
                ["db", "new median ms", "new p99 ms", "update median ms", "update p99 ms", "bulk new rows/s",
                 "per-lead/bulk", "≤ 5 ms"],
                [
                    [r["db"], r["per_lead"]["new"]["median_ms"], r["per_lead"]["new"]["p99_ms"],
                     r["per_lead"]["update"]["median_ms"], r["per_lead"]["update"]["p99_ms"],
                     r["bulk"]["new"]["rows_per_s"], f"{r['per_lead_to_bulk']['new']:.1f}x",
                     verdict(r["target_median_le_5ms"])]
                    for r in results
                ],
            )
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=DB_CHOICES, default="sqlite")
    parser.add_argument("--leads", type=int, default=2000, help="leads per measurement (1..100000)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N more new captures")
    parser.add_argument(
        "--queries", action="store_true", help="print the SQL of one new and one updated capture"
    )
    parser.add_argument(
        "--pg-admin-url", default=PG_ADMIN_URL, help="maintenance DB to create the bench DB from"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.leads <= 100_000 or not 0 <= args.profile <= 100_000:
        parser.error("--leads must be in [1, 100000] and --profile in [0, 100000]")

    if args.child_out:  # one database, in this process
        result = run_child(args.db, args.leads, args.profile, args.queries, args.pg_admin_url)
        args.child_out.write_text(json.dumps(result))
        return

    machine = machine_summary()
    print(f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, Python {machine['python']}")
    results = []
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-") as tmp:
        for db in selected_dbs(args.db):
            out = Path(tmp) / f"{db}.json"
            command = [sys.executable, __file__, "--db", db, "--leads", str(args.leads),
                       "--child-out", str(out), "--profile", str(args.profile),
                       "--pg-admin-url", args.pg_admin_url]  # fmt: skip
            if args.queries:
                command.append("--queries")
            subprocess.run(command, check=True, timeout=1800)
            results.append(json.loads(out.read_text()))
    report(results)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "config": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=2, default=str))  # fmt: skip
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
