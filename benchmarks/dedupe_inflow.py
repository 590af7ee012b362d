"""Cost of the in-flow duplicate check, and the full scan, with 1,000,000 leads in PostgreSQL.

    python benchmarks/dedupe_inflow.py [--leads 1000000] [--checks 300] [--keep-db NAME | --reuse-db NAME]

1. A new database `leadflow_dedupebench_<pid>` (or NAME), migrated in process, then loaded with COPY (not the
   ORM): --leads leads whose names, companies, cities and email domains come from Faker pools (fixed seed);
   3% of them are near-duplicates of another lead (a typo in the first name, the company's legal suffix
   changed, no email). Their blocking keys (hygiene_matchkey) are computed by the engine and copied too,
   then the indexes are built and the tables analysed.
2. In-flow check: for --checks new records (a third near-duplicates of existing leads, a third exact
   name + company matches, a third new people) the hygiene part of the identify step, as the intake flow
   calls it for a batch of one: records_suspects (indexed blocking keys, candidate fetch, comparisons,
   explanation), then writing the new lead's keys and looking up its account (leads_index), each probe
   in a transaction that commits, as a capture's does (a rollback would also drop the connection's
   prepared statements); the probe leads are deleted after the timing. Before
   it, the tables and indexes the check reads are loaded into PostgreSQL's buffers (pg_prewarm), as a
   running server has them; the output shows shared_buffers. Reported: median, p95, max ms; the target
   is a median ≤ 2 ms.
3. Full scan: duplicates_scan() over every lead, timed end to end (read, prepare, block, compare, write the
   review queue); target ≤ 60 s.
"""

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import PG_ADMIN_URL, machine_summary, percentile

SEED = 20261202
DUPLICATE_SHARE = 0.03
NULL = "\\N"
INFLOW_TARGET_MS = 2.0
SCAN_TARGET_S = 60.0


def _pg_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def _setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = _pg_url(db_name)
    os.environ.setdefault("LEADFLOW_DATA_DIR", tempfile.mkdtemp(prefix="leadflow-dedupebench-"))
    os.environ.setdefault(
        "LEADFLOW_SECRET_KEY", "benchmark-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import django

    django.setup()


def _people(count: int) -> list[dict[str, str]]:
    """Lead rows: Faker pools combined at random, 3% near-duplicates of an earlier row."""
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES"])
    Faker.seed(SEED)
    rng = random.Random(SEED)
    firsts = sorted({fake.first_name() for _ in range(6000)})
    lasts = sorted({fake.last_name() for _ in range(30000)})
    companies = sorted({fake.company() for _ in range(40000)})
    cities = sorted({fake.city() for _ in range(3000)})
    domains = ["gmail.com", "outlook.com", "yahoo.com"] + [fake.domain_name() for _ in range(5000)]
    rows: list[dict[str, str]] = []
    for n in range(count):
        if rows and rng.random() < DUPLICATE_SHARE:
            original = rows[rng.randrange(len(rows))]
            first = original["first_name"]
            cut = rng.randrange(1, max(len(first), 2))
            rows.append(
                {
                    **original,
                    "first_name": first[:cut] + first[cut + 1 :] if len(first) > 3 else first,
                    "company": original["company"].replace(" Inc", " LLC")
                    + ("" if rng.random() < 0.5 else " GmbH"),
                    "email": "",
                }
            )
            continue
        first, last = rng.choice(firsts), rng.choice(lasts)
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "company": rng.choice(companies),
                "city": rng.choice(cities),
                "country": rng.choice(["US", "DE", "FR", "ES", "GB"]),
                "email": f"{first}.{last}.{n}@{rng.choice(domains)}".lower().replace(" ", ""),
            }
        )
    return rows


def _copy_value(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _load(rows: list[dict[str, str]]) -> None:
    """COPY the leads and their blocking keys; indexes are built by the migration, then analysed."""
    from django.db import connection
    from django.utils import timezone

    from leadflow.hygiene.services import lead_record, matcher
    from leadflow.leads.models import Lead

    now = timezone.now().isoformat()
    fields = [f for f in Lead._meta.concrete_fields if f.name != "id"]
    columns = [f.column for f in fields]
    given = {
        "email_normalized": lambda r: r["email"],
        "company_domain": lambda r: r["email"].rpartition("@")[2],
        "created_at": lambda r: now,
        "updated_at": lambda r: now,
    }
    start = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor() as pg, pg.copy(f"COPY leads_lead ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                values = []
                for f in fields:
                    if f.name in given:
                        values.append(_copy_value(given[f.name](row)))
                    elif f.name in row:
                        values.append(_copy_value(row[f.name]))
                    elif f.null:
                        values.append(NULL)
                    else:
                        values.append(_copy_value(f.get_default()))
                copy.write("\t".join(values) + "\n")
        print(f"  leads copied in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        ids = [r[0] for r in Lead.objects.order_by("id").values_list("id")]
        engine = matcher()
        prepared = engine.prepare([lead_record(r) for r in rows], ids=ids)
        keys = engine.blocking_keys(prepared)
        with raw.cursor() as pg, pg.copy("COPY hygiene_matchkey (lead_id, key) FROM STDIN") as copy:
            buffer = io.StringIO()
            for rule, column in enumerate(keys):
                for lead_id, key in zip(ids, column, strict=True):
                    if key is not None:
                        buffer.write(f"{lead_id}\t{_copy_value(f'{rule}:{key}'[:300])}\n")
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        print(f"  blocking keys computed and copied in {time.perf_counter() - start:.1f} s", flush=True)
        cursor.execute("ANALYZE leads_lead")
        cursor.execute("ANALYZE hygiene_matchkey")
    raw.commit()


def _prewarm() -> str:
    """Loads what the check reads into shared buffers; returns the server's shared_buffers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for relation in (*PREWARMED, *_indexes(cursor, PREWARMED)):
            cursor.execute("SELECT pg_prewarm(%s)", [relation])
        cursor.execute("SHOW shared_buffers")
        return cursor.fetchone()[0]


PREWARMED = ("leads_lead", "hygiene_matchkey", "pipeline_account", "pipeline_accountlead")


def _indexes(cursor: Any, tables: tuple[str, ...]) -> list[str]:
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", [list(tables)])
    return [row[0] for row in cursor.fetchall()]


def _inflow(rows: list[dict[str, str]], checks: int) -> dict[str, Any]:
    from django.db import transaction

    from leadflow.hygiene.services import (
        lead_record,
        leads_index,
        records_suspects,
    )
    from leadflow.leads.models import Lead

    rng = random.Random(SEED + 1)
    probes = []
    for n in range(checks):
        original = rows[rng.randrange(len(rows))]
        if n % 3 == 0:
            probes.append({**original, "first_name": original["first_name"][:-1] + "e", "email": ""})
        elif n % 3 == 1:
            probes.append({**original, "email": f"other.{n}@example.org"})
        else:
            probes.append(
                {**original, "first_name": f"Newperson{n}", "last_name": f"Zyx{n}", "email": f"n{n}@x.io"}
            )
    timings, check_only, found = [], [], 0
    for probe in probes[:20]:  # warm-up
        records_suspects(records=[lead_record(probe)])
    made = []
    for probe in probes:
        fields = ("first_name", "last_name", "company", "city", "country")
        lead = Lead(**{name: probe[name] for name in fields}, email_normalized=probe["email"])
        with transaction.atomic():
            lead.save()
            start = time.perf_counter()
            suspects = records_suspects(records=[lead_record(lead)], exclude_ids=[lead.pk])
            middle = time.perf_counter()
            leads_index(leads=[lead], new_ids=[lead.pk])
            end = time.perf_counter()
        made.append(lead.pk)
        found += suspects[0] is not None
        timings.append((end - start) * 1000)
        check_only.append((middle - start) * 1000)
    Lead.objects.filter(pk__in=made).delete()
    return {
        "checks": checks,
        "suspects_found": found,
        "median_ms": statistics.median(timings),
        "p95_ms": percentile(sorted(timings), 95),
        "max_ms": max(timings),
        "check_only_median_ms": statistics.median(check_only),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--keep-db", help="Create the database under this name and keep it.")
    parser.add_argument("--reuse-db", help="Measure a database kept by an earlier --keep-db run.")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    db_name = args.reuse_db or args.keep_db or f"leadflow_dedupebench_{os.getpid()}"
    print(machine_summary())
    if not args.reuse_db:
        _pg_admin(f"DROP DATABASE IF EXISTS {db_name}")
        _pg_admin(f"CREATE DATABASE {db_name}")
    try:
        _setup_django(db_name)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        start = time.perf_counter()
        rows = _people(args.leads)
        print(f"generated {len(rows)} leads in {time.perf_counter() - start:.1f} s", flush=True)
        if not args.reuse_db:
            _load(rows)
        print(f"prewarmed the tables the check reads; shared_buffers = {_prewarm()}", flush=True)
        inflow = _inflow(rows, args.checks)
        met = inflow["median_ms"] <= INFLOW_TARGET_MS
        print(
            f"in-flow duplicate check with {args.leads:,} leads: median {inflow['median_ms']:.2f} ms "
            f"(lookup + compare only {inflow['check_only_median_ms']:.2f} ms), "
            f"p95 {inflow['p95_ms']:.2f} ms, max {inflow['max_ms']:.2f} ms; "
            f"{inflow['suspects_found']}/{inflow['checks']} probes had a suspect; "
            f"target median ≤ {INFLOW_TARGET_MS} ms {'MET' if met else 'NOT met'}",
            flush=True,
        )
        result: dict[str, Any] = {"leads": args.leads, "inflow": inflow}
        if not args.no_scan:
            from leadflow.hygiene.services import duplicates_scan

            start = time.perf_counter()
            scan = duplicates_scan()
            seconds = time.perf_counter() - start
            result["scan"] = {**scan.__dict__, "seconds": seconds}
            print(
                f"full scan of {scan.leads:,} leads: {seconds:.1f} s, {scan.pairs_compared:,} blocked pairs, "
                f"{scan.candidates:,} pairs queued; target ≤ {SCAN_TARGET_S:.0f} s "
                f"{'MET' if seconds <= SCAN_TARGET_S else 'NOT met'}",
                flush=True,
            )
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db and not args.reuse_db:
            _pg_admin(f"DROP DATABASE IF EXISTS {db_name}")


if __name__ == "__main__":
    main()
