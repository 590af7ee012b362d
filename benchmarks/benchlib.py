"""Shared helpers of the benchmark scripts: fresh databases, seed data, payloads, statistics, tables.

Nothing here imports Django at module level, so the HTTP benchmark's client process stays light.
"""

import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
# The maintenance database used to CREATE / DROP the benchmark's own database.
PG_ADMIN_URL = os.environ.get("LEADFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_CHOICES = ("sqlite", "postgres", "both")


def selected_dbs(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


def _pg_url_for(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def _pg_admin(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


@contextmanager
def fresh_database(
    db: str, *, pg_admin_url: str = PG_ADMIN_URL, pg_settings: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """Environment variables pointing leadflow at a new, empty database; removed afterwards.

    SQLite: a temporary LEADFLOW_DATA_DIR. PostgreSQL: a database `leadflow_bench_<pid>` created
    on the server of `pg_admin_url` (and a temporary data dir for the secret key and static files);
    `pg_settings` are set on that database only (ALTER DATABASE … SET), e.g. for a diagnosis.
    """
    data_dir = tempfile.mkdtemp(prefix=f"leadflow-bench-{db}-")
    env = {
        "LEADFLOW_DATA_DIR": data_dir,
        "LEADFLOW_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "LEADFLOW_DEBUG": "0",
        "LEADFLOW_LOG_LEVEL": "WARNING",
        "LEADFLOW_ALLOWED_HOSTS": "127.0.0.1",
        "LEADFLOW_TASK_BACKEND": "db",
    }
    db_name = f"leadflow_bench_{os.getpid()}"
    created = False
    try:
        if db == "postgres":
            _pg_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            _pg_admin(pg_admin_url, f'CREATE DATABASE "{db_name}"')
            created = True
            for name, value in (pg_settings or {}).items():
                _pg_admin(pg_admin_url, f'ALTER DATABASE "{db_name}" SET {name} = {value}')
            env["DATABASE_URL"] = _pg_url_for(pg_admin_url, db_name)
        elif db != "sqlite":
            raise ValueError(f"Unknown database {db!r}")
        yield env
    finally:
        if created:
            _pg_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


def seed_team(reps: int = 5) -> str:
    """A default team of `reps` active reps and a capture API key; returns the key's secret.

    Runs inside a configured Django (django.setup() done).
    """
    from leadflow.access.models import ApiScope, Role
    from leadflow.access.services import api_key_create, team_create, team_member_add, user_create

    team = team_create(name="Inbound sales", is_default=True)
    for i in range(reps):
        rep = user_create(
            username=f"rep{i + 1}",
            password=f"bench-password-{i}-x9",
            role=Role.REP,
            email=f"rep{i + 1}@leadflow.example",
            first_name=f"Rep{i + 1}",
            last_name="Bench",
        )
        team_member_add(team=team, user=rep)
    return api_key_create(name="benchmark", scopes=[ApiScope.CAPTURE]).secret


# --- realistic payloads -------------------------------------------------------------------------

# A few names that exercise normalization (accents, apostrophes, legal suffixes), then Faker's (fixed
# seed) up to the pool sizes: people and companies as varied as a real inbound stream's, so the
# duplicate check meets a realistic number of look-alikes (with 12 first names and 8 companies, a
# first-name + company blocking key had 80 leads in 2,000).
_FIRST_SEED = (
    "Anna",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Inès",
    "Jonas",
    "Kofi",
    "Lea",
)
_LAST_SEED = (
    "Müller",
    "O'Brien",
    "Nguyen",
    "Schmidt",
    "García",
    "Rossi",
    "Kowalski",
    "Smith",
    "Dubois",
    "Tanaka",
)
_COMPANY_SEED = (
    ("Acme Corp", "acme.com"),
    ("Globex GmbH", "globex.de"),
    ("Initech Ltd", "initech.co.uk"),
    ("Umbrella Health", "umbrella-health.com"),
    ("Stark Logistics", "stark-logistics.io"),
    ("Wayne Analytics", "wayne-analytics.com"),
    ("Hooli", "hooli.xyz"),
    ("Vandelay Industries", "vandelay.com"),
)
FIRST_NAMES, LAST_NAMES, COMPANIES = 397, 401, 499  # primes: every combination comes round


@cache
def _pools() -> tuple[list[str], list[str], list[tuple[str, str]]]:
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL"], use_weighting=False)
    fake.seed_instance(20261203)
    first, last, companies = list(_FIRST_SEED), list(_LAST_SEED), list(_COMPANY_SEED)
    while len(first) < FIRST_NAMES:
        if (name := fake.first_name()) not in first:
            first.append(name)
    while len(last) < LAST_NAMES:
        if (name := fake.last_name()) not in last:
            last.append(name)
    domains = {domain for _, domain in companies}
    while len(companies) < COMPANIES:
        name = fake.company()
        domain = re.sub(r"[^a-z0-9]+", "-", _ascii(name).lower())[:40].strip("-") + "." + fake.tld()
        if domain not in domains:
            domains.add(domain)
            companies.append((name, domain))
    return first, last, companies


_TITLES = ("Head of Marketing", "CTO", "Sales Operations Manager", "Founder & CEO", "IT Director", "Buyer")
_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
_UTM = (
    ("google", "cpc", "q4-launch", "lead management"),
    ("linkedin", "social", "q4-launch", ""),
    ("newsletter", "email", "november-digest", ""),
    ("bing", "cpc", "brand", "leadflow"),
)


def _phone_and_country(seq: int) -> tuple[str, str]:
    """A phone number unique per `seq` (so it never matches another lead) and its country."""
    kind = seq % 3
    if kind == 0:
        return f"+1 (415) {200 + (seq // 10_000) % 800:03d}-{seq % 10_000:04d}", "US"
    if kind == 1:
        return f"+49 30 {seq % 100_000_000:08d}", "Germany"
    return f"+44 20 7{seq % 10_000_000:07d}", "United Kingdom"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def lead_payload(seq: int, run: str, *, revision: int = 0) -> dict[str, Any]:
    """A web-form lead as the capture API receives it; unique email and phone per `seq`.

    The phone number depends on `seq` only (unique for seq < 8,000,000), so callers give every
    group of leads in one database its own range of `seq`.

    `revision` > 0 gives the same person (same email and phone) with a few changed fields,
    as a resubmission that updates the lead.
    """
    first_names, last_names, companies = _pools()
    first = first_names[seq % FIRST_NAMES]
    last = last_names[seq % LAST_NAMES]
    company, domain = companies[seq % COMPANIES]
    phone, country = _phone_and_country(seq)
    source, medium, campaign, term = _UTM[(seq + revision) % len(_UTM)]
    attribution = {
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": campaign,
        "landing_page": f"https://www.leadflow.example/pricing?ref={campaign}",
        "referrer": f"https://www.{source}.com/",
    }
    if term:
        attribution["utm_term"] = term
    return {
        "source": "website",
        "first_name": first,
        "last_name": last,
        "email": f"{re.sub(r'[^a-z0-9]+', '', _ascii(first).lower())}.{run}.{seq}@{domain}",
        "phone": phone,
        "company": company,
        "website": f"https://www.{domain}",
        "job_title": _TITLES[(seq + revision) % len(_TITLES)],
        "company_size": _SIZES[(seq + revision) % len(_SIZES)],
        "country": country,
        "city": ("San Francisco", "Berlin", "London")[seq % 3],
        "attribution": attribution,
    }


# --- statistics and output ------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def pg_settings_arg(values: list[str] | None) -> dict[str, str]:
    """`--pg-set name=value` options as a dict; names and values are restricted to safe characters."""
    settings: dict[str, str] = {}
    for item in values or []:
        name, _, value = item.partition("=")
        if not (name.replace("_", "").isalnum() and value.replace("_", "").replace(".", "").isalnum()):
            raise ValueError(f"--pg-set wants name=value with plain words, not {item!r}")
        settings[name] = value
    return settings


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
    ).stdout


def git_state() -> str:
    """The commit benchmarked, and whether src/ differed from it (read-only git calls)."""
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        dirty = _git("diff", "--name-only", "HEAD", "--", "src").strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def machine_summary() -> dict[str, Any]:
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": " ".join(load),
        "git": git_state(),
    }
