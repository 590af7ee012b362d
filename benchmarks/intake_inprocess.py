"""In-process intake benchmark: the time per lead of capture.services.lead_capture.

    python benchmarks/intake_inprocess.py [--db sqlite|postgres|both] [--leads 2000] [--json out.json]
                                          [--profile N] [--queries]

On a freshly migrated database with a default team of 5 reps, it times the whole intake flow
(persist raw → normalize → identify → upsert → score → qualify → route → follow-ups) without HTTP:

* per lead, new leads: lead_capture() of --leads new payloads, one by one;
* per lead, updates: the same people again (same email and phone, a few changed fields);
* bulk: capture.services.leads_capture_bulk() over --leads new rows, then over the same rows again;

and aggregates the submissions' `trace` (each step's ms) into a median per step. It also counts and
times the SQL of a sample of captures, and times the same capture through the API layer
(django.test.Client: middleware, API-key auth, ninja, the response; no HTTP) interleaved with direct
calls, so the noise of a busy machine hits both alike. --profile N adds a cProfile of N more new
captures; --queries prints the SQL of one new and one updated capture, with the time of each statement.
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import (
    DB_CHOICES,
    PG_ADMIN_URL,
    fresh_database,
    lead_payload,
    machine_summary,
    percentile,
    pg_settings_arg,
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
    "direct": 6_000_000,
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


def _trace_ms(trace: list[dict[str, Any]]) -> dict[str, float]:
    """ms per step of one submission's trace (a retried step counts its attempts together)."""
    steps: dict[str, float] = defaultdict(float)
    for entry in trace:
        if isinstance(entry.get("ms"), int | float):
            steps[entry["step"]] += float(entry["ms"])
    return dict(steps)


def _step_summary(traces: Iterable[list[dict[str, Any]]], totals_ms: list[float] | None) -> dict[str, Any]:
    """Median and mean ms per step; with the captures' totals, the time outside the steps too."""
    by_step: dict[str, list[float]] = defaultdict(list)
    outside: list[float] = []
    for i, trace in enumerate(traces):
        steps = _trace_ms(trace)
        for step, ms in steps.items():
            by_step[step].append(ms)
        if totals_ms is not None:
            outside.append(totals_ms[i] - sum(steps.values()))
    summary: dict[str, Any] = {
        "median_ms": {step: round(statistics.median(v), 4) for step, v in by_step.items()},
        "mean_ms": {step: round(statistics.fmean(v), 4) for step, v in by_step.items()},
    }
    if outside:
        summary["outside_median_ms"] = round(statistics.median(outside), 4)
    return summary


# --- child: one database ---------------------------------------------------------------------------


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    db = args.db
    with fresh_database(
        db, pg_admin_url=args.pg_admin_url, pg_settings=pg_settings_arg(args.pg_set)
    ) as overrides:
        os.environ.update(overrides)
        os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
        os.environ.pop("LEADFLOW_SQLITE_PATH", None)
        if db == "sqlite":
            os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        from django.db import connections

        try:
            return _measure(db, args.leads, args.profile, args.queries)
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


def _per_statement(statements: list[tuple[str, float]], last: int, sample: int) -> list[tuple[str, float]]:
    """The last capture's statements in order, each with its mean driver time over the sample."""
    total: dict[str, float] = defaultdict(float)
    for sql, ms in statements:
        total[sql] += ms
    return [(sql, round(total[sql] / sample, 3)) for sql, _ in statements[last:]]


class _MethodTimer:
    """Times chosen functions while installed (ms summed per label); missing names are skipped."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)

    @contextmanager
    def installed(self, targets: list[tuple[Any, str, str]]) -> Iterator[None]:
        restore: list[tuple[Any, str, Any, bool]] = []
        for owner, attr, label in targets:
            original = getattr(owner, attr, None)
            if original is None:
                continue

            def timed(*args: Any, __original: Any = original, __label: str = label, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return __original(*args, **kwargs)
                finally:
                    self.ms[__label] += (time.perf_counter() - start) * 1000

            own = attr in vars(owner)
            restore.append((owner, attr, vars(owner).get(attr), own))
            setattr(owner, attr, timed)
        try:
            yield
        finally:
            for owner, attr, previous, own in reversed(restore):
                if own:
                    setattr(owner, attr, previous)
                else:
                    delattr(owner, attr)


# Parts of one capture, timed by wrapping the functions (derived rows are computed from these).
FLOW_PARTS = ("normalize", "resolve sources", "identify", "upsert", "domain steps", "flush")


def _breakdown(totals: dict[str, float], count: int) -> dict[str, float]:
    """Mean ms per capture of each part of lead_capture, from the wrapped functions' sums."""
    ms = {label: value / count for label, value in totals.items()}
    parts = {label: ms.get(label, 0.0) for label in FLOW_PARTS}
    parts["save submission status + trace"] = ms.get("run", 0.0) - sum(parts.values())
    parts["flow setup (custom field specs)"] = ms.get("setup", 0.0)
    parts["COMMIT"] = ms.get("commit", 0.0)
    parts["BEGIN, retry loop, rest"] = (
        ms.get("process", 0.0) - ms.get("run", 0.0) - ms.get("setup", 0.0) - ms.get("commit", 0.0)
    )
    parts["persist raw (INSERT, autocommit)"] = ms.get("total", 0.0) - ms.get("process", 0.0)
    parts["total"] = ms.get("total", 0.0)
    return {label: round(value, 3) for label, value in parts.items()}


def _measure(db: str, leads: int, profile: int, show_queries: bool) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connection, connections
    from django.test import Client

    from benchlib import seed_team
    from leadflow.capture import services as capture_services
    from leadflow.capture.intake import IntakeFlow
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
        walls, cpus, traces = [], [], []
        start = time.perf_counter()
        for seq in range(leads):
            payload = lead_payload(SEQ_BASE["single"] + seq, "single", revision=revision)
            cpu_start = time.process_time()
            ms, trace = capture_one(payload, expect_created=revision == 0)
            cpus.append((time.process_time() - cpu_start) * 1000)
            walls.append(ms)
            traces.append(trace)
        wall = time.perf_counter() - start
        per_lead[mode] = {
            **_stats(walls),
            "leads_per_s": round(leads / wall, 1),
            "cpu_median_ms": round(statistics.median(cpus), 3),
            "steps": _step_summary(traces, walls),
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
        bulk_traces = Submission.objects.filter(pk__in=result.submission_ids).values_list("trace", flat=True)
        steps = _step_summary(bulk_traces, None)
        ms_per_row = wall * 1000 / leads
        steps["outside_mean_ms"] = round(ms_per_row - sum(steps["mean_ms"].values()), 4)
        bulk[mode] = {
            "rows": leads,
            "seconds": round(wall, 3),
            "rows_per_s": round(leads / wall, 1),
            "ms_per_row": round(ms_per_row, 4),
            "steps": steps,
        }
        print(f"[{db}] bulk, {mode:6s}: {bulk[mode]['rows_per_s']:.0f} rows/s", flush=True)

    # 3. a sample with timing wrappers: SQL statements and driver time, and the parts of a capture
    sample = min(SQL_SAMPLE, leads)
    sql: dict[str, dict[str, Any]] = {}
    parts: dict[str, dict[str, float]] = {}
    targets = [
        (IntakeFlow, "__init__", "setup"),
        (IntakeFlow, "run", "run"),
        (IntakeFlow, "_normalize", "normalize"),
        (IntakeFlow, "_resolve_sources", "resolve sources"),
        (IntakeFlow, "_identify", "identify"),
        (IntakeFlow, "_upsert", "upsert"),
        (IntakeFlow, "_domain_steps", "domain steps"),
        (IntakeFlow, "_flush", "flush"),
        (capture_services, "_process", "process"),
        (connections[DEFAULT_DB_ALIAS], "commit", "commit"),
    ]
    for mode, revision in (("new", 0), ("update", 1)):
        timer, methods = _SqlTimer(), _MethodTimer()
        total = 0.0
        with connection.execute_wrapper(timer), methods.installed(targets):
            for seq in range(sample):
                before = len(timer.statements)
                payload = lead_payload(SEQ_BASE["sql"] + seq, "sql", revision=revision)
                total += capture_one(payload, expect_created=revision == 0)[0]
        methods.ms["total"] = total
        parts[mode] = _breakdown(methods.ms, sample)
        sql[mode] = {
            "captures": sample,
            "statements_per_capture": round(len(timer.statements) / sample, 2),
            "driver_ms_per_capture": round(sum(ms for _, ms in timer.statements) / sample, 3),
            "total_ms_per_capture": round(total / sample, 3),
            "statements": _per_statement(timer.statements, before, sample) if show_queries else [],
        }

    # 4. through the API layer, interleaved with direct calls and the trivial endpoint
    client = Client(HTTP_HOST="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    api_count = min(API_SAMPLE, leads)
    api_times: dict[str, list[float]] = {"healthz": [], "direct": [], "api": []}
    for seq in range(api_count + WARMUP_LEADS):
        direct_ms = capture_one(lead_payload(SEQ_BASE["direct"] + seq, "direct"), expect_created=True)[0]
        body = json.dumps(lead_payload(SEQ_BASE["api"] + seq, "api"))
        start = time.perf_counter()
        created = client.post("/api/v1/leads", body, content_type="application/json", **auth)  # type: ignore[arg-type]
        api_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        response = client.get("/healthz")
        healthz_ms = (time.perf_counter() - start) * 1000
        if response.status_code != 200 or created.status_code != 201:
            raise RuntimeError(f"API: {response.status_code} / {created.status_code}: {created.content!r}")
        if seq >= WARMUP_LEADS:
            api_times["healthz"].append(healthz_ms)
            api_times["direct"].append(direct_ms)
            api_times["api"].append(api_ms)
    api: dict[str, Any] = {name: _stats(times) for name, times in api_times.items()}
    api["layer_median_ms"] = round(
        statistics.median(a - d for a, d in zip(api_times["api"], api_times["direct"], strict=True)), 3
    )
    print(f"[{db}] via the API layer: capture median {api['api']['median_ms']:.2f} ms", flush=True)

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
        "parts": parts,
        "api": api,
        "profile": profile_text,
    }


# --- parent: run the children and report ------------------------------------------------------------


def _share(parts: dict[str, float], label: str) -> str:
    return f"{100 * parts[label] / parts['total']:.0f} %" if parts["total"] else "-"


def report(results: list[dict[str, Any]]) -> None:
    for res in results:
        db, per_lead, bulk, sql, api = res["db"], res["per_lead"], res["bulk"], res["sql"], res["api"]
        print(f"\n## {db}: intake flow in process, {res['leads']} leads per measurement")
        rows: list[list[Any]] = [
            [f"per lead, {mode}", s["median_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"], s["mean_ms"],
             s["leads_per_s"], s["cpu_median_ms"]]
            for mode, s in per_lead.items()
        ]  # fmt: skip
        rows += [
            [f"bulk, {mode}", "", "", "", "", b["ms_per_row"], b["rows_per_s"], ""]
            for mode, b in bulk.items()
        ]
        print(
            table(
                ["", "median ms", "p90 ms", "p99 ms", "max ms", "mean ms", "leads/s", "CPU median ms"], rows
            )
        )
        print("(CPU = this process only: on PostgreSQL the server's own work is not in it.)")
        res["per_lead_to_bulk"] = {}
        for mode in ("new", "update"):
            ratio = per_lead[mode]["mean_ms"] / bulk[mode]["ms_per_row"]
            res["per_lead_to_bulk"][mode] = round(ratio, 2)
            print(f"per-lead / bulk, time per lead ({mode}): {ratio:.1f}x")
        medians = (per_lead["new"]["median_ms"], per_lead["update"]["median_ms"])
        res["target_median_le_5ms"] = max(medians) <= MEDIAN_TARGET_MS
        print(
            f"median per new lead {medians[0]:.2f} ms, per update {medians[1]:.2f} ms "
            f"(target ≤ {MEDIAN_TARGET_MS:g} ms: {verdict(res['target_median_le_5ms'])})"
        )

        print(f"\n## {db}: ms per step, from the submissions' trace")
        columns = [
            per_lead["new"]["steps"]["median_ms"],
            per_lead["update"]["steps"]["median_ms"],
            bulk["new"]["steps"]["mean_ms"],
            bulk["update"]["steps"]["mean_ms"],
        ]
        step_rows: list[list[Any]] = [[step, *(c.get(step, float("nan")) for c in columns)] for step in STEPS]
        step_rows.append(["outside the steps*", per_lead["new"]["steps"]["outside_median_ms"],
                          per_lead["update"]["steps"]["outside_median_ms"],
                          bulk["new"]["steps"]["outside_mean_ms"],
                          bulk["update"]["steps"]["outside_mean_ms"]])  # fmt: skip
        step_rows.append(
            ["total", medians[0], medians[1], bulk["new"]["ms_per_row"], bulk["update"]["ms_per_row"]]
        )
        print(table(["step", "per lead new (median)", "per lead update (median)", "bulk new (mean/row)",
                     "bulk update (mean/row)"], step_rows))  # fmt: skip
        print("* total minus the steps of the same capture: opening and committing the transaction, saving")
        print("  the submission's status and trace, setting up the flow (custom field specs).")

        print(f"\n## {db}: SQL per capture (sample of {sql['new']['captures']} captures, timing wrapper)")
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
        print("(The driver column excludes COMMIT and the ORM building the SQL; both are in the total.)")
        parts = res["parts"]
        print(f"\n## {db}: where a capture's time goes (mean ms, same sample, functions timed by wrapping)")
        print(
            table(
                ["part", "new", "share", "update", "share"],
                [
                    [label, parts["new"][label], _share(parts["new"], label), parts["update"][label],
                     _share(parts["update"], label)]
                    for label in parts["new"]
                ],
            )
        )  # fmt: skip
        print(
            "(domain steps = score + qualify + route + follow-ups; flush = the lead's UPDATE and the timeline"
        )
        print(" INSERT; the rows without a function of their own are differences.)")

        print(f"\n## {db}: through the API layer in process (django.test.Client, no HTTP), interleaved")
        print(
            table(
                ["", "count", "median ms", "p90 ms", "p99 ms", "mean ms"],
                [
                    [name, v["count"], v["median_ms"], v["p90_ms"], v["p99_ms"], v["mean_ms"]]
                    for name, v in api.items()
                    if isinstance(v, dict)
                ],
            )
        )
        print(
            "API layer on top of the intake flow (median of api − direct, pairwise): "
            f"{api['layer_median_ms']:.2f} ms"
        )

        for mode, q in sql.items():
            if q["statements"]:
                print(f"\n## {db}: SQL of one {mode} capture (ms: mean in the driver, over the sample)")
                for statement, ms in q["statements"]:
                    print(f"  {ms:5.2f}  {statement[:140]}")
        if res["profile"]:
            print(f"\n## {db}: cProfile\n{res['profile']}")

    if len(results) > 1:
        print("\n## summary")
        print(
            table(
                ["db", "new median ms", "new p99 ms", "update median ms", "update p99 ms", "bulk new rows/s",
                 "per-lead/bulk", "API layer ms", "≤ 5 ms"],
                [
                    [r["db"], r["per_lead"]["new"]["median_ms"], r["per_lead"]["new"]["p99_ms"],
                     r["per_lead"]["update"]["median_ms"], r["per_lead"]["update"]["p99_ms"],
                     r["bulk"]["new"]["rows_per_s"], f"{r['per_lead_to_bulk']['new']:.1f}x",
                     r["api"]["layer_median_ms"], verdict(r["target_median_le_5ms"])]
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
    parser.add_argument(
        "--pg-set", action="append", metavar="NAME=VALUE", help="ALTER DATABASE SET, diagnosis"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.leads <= 100_000 or not 0 <= args.profile <= 100_000:
        parser.error("--leads must be in [1, 100000] and --profile in [0, 100000]")

    if args.child_out:  # one database, in this process
        result = run_child(args)
        args.child_out.write_text(json.dumps(result))
        return

    machine = machine_summary()
    print(
        f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, Python {machine['python']}, "
        f"leadflow {machine['git']}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-") as tmp:
        for db in selected_dbs(args.db):
            out = Path(tmp) / f"{db}.json"
            command = [sys.executable, __file__, "--db", db, "--leads", str(args.leads),
                       "--child-out", str(out), "--profile", str(args.profile),
                       "--pg-admin-url", args.pg_admin_url]  # fmt: skip
            for item in args.pg_set or []:
                command += ["--pg-set", item]
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
