"""Server time of the lead list and lead detail pages with 1,000,000 leads and 10,000,000 activities.

    python benchmarks/ui_server_time.py [--leads 1000000] [--activities 10000000] [--requests 200]
                                        [--keep-db NAME | --reuse-db NAME | --load-only] [--budget 60]
                                        [--deep-pages 50] [--only TEXT …] [--explain 4] [--json out.json]

PostgreSQL only (127.0.0.1:5432, user postgres; LEADFLOW_BENCH_PG_URL overrides the maintenance URL).

1. Database: a new database `leadflow_uibench_<pid>` (or NAME with --keep-db, which is then kept), migrated
   in-process, then loaded with COPY (not the ORM): 20 teams with a manager each, 300 reps, an admin and a
   marketer, 12 sources; --leads leads (2 years of arrivals, more of them recent; stages, statuses, owners,
   unassigned team pools, scores 0–100, names, emails and companies drawn from word lists), each with one
   touch, one email identity, its intake submission with the trace, its stage/status transitions, and email
   consent for two in five; --activities activities: 5–14 for most leads, 10k+ for a few "hot" leads.
   Secondary indexes are built after the COPY, then VACUUM ANALYZE. NOT NULL columns the generator does not
   know (added to the models later) get their model default. --reuse-db NAME measures a database kept by an
   earlier --keep-db run (its shape is read from the database's comment) after applying new migrations.
2. Server time, in process: django.test.Client (middleware, session or API-key auth, view, template or
   JSON; no HTTP), timed from request to response after a warm-up, --requests per scenario (fewer, but at
   least 20, once a scenario has run --budget seconds), as an admin, a sales manager (one team) and a rep (own
   leads and the team's unassigned pool): row-level access changes the query plans.
   Web pages (when the views `web:lead_list` / `web:lead_detail` exist): the list (first page, each stage
   filter in turn, free text: a last name and a person's first + last name, sorted by score, page 51 reached
   through the "next" links) and the detail page (typical leads, a lead with 10k+ activities). API:
   /api/v1/leads with the same filters and /api/v1/leads/{id}[/timeline].
   Per scenario: p50/p95/p99/max ms; mean CPU per request of this process and of its PostgreSQL backend
   (from /proc: less sensitive to a busy machine than wall time); the SQL of the scenario's last URL, run 3
   times (queries per request, total and slowest query ms, each query's fastest run). Then EXPLAIN (ANALYZE,
   BUFFERS) of the slowest query of the slowest scenario and of the next slowest ones missing their target.
Targets: list p95 ≤ 150 ms, detail p95 ≤ 100 ms (applied to the API rows too, for comparison).
"""

import argparse
import html
import json
import os
import random
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from benchlib import PG_ADMIN_URL, machine_summary, percentile

LIST_TARGET_MS = 150.0
DETAIL_TARGET_MS = 100.0
SEED = 20240601
TEAMS = 20
REPS_PER_TEAM = 15
HOT_SHARE = 0.05  # share of all activities that belong to the hot leads
LEADS_PER_HOT_LEAD = 40_000
WARMUP = 20
MIN_SAMPLES = 20
SQL_RUNS = 3  # requests whose SQL is captured per scenario
PASSWORD = "bench-password"
DAY = 86_400.0
YEAR = 365 * DAY
CHUNK_ROWS = 20_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
NULL = "\\N"  # COPY's text format


# --- the database -------------------------------------------------------------------------------------


def _pg_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


def _db_comment(name: str) -> dict[str, Any] | None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    if row is None:
        raise SystemExit(f"Database {name!r} does not exist.")
    return json.loads(row[0]) if row[0] else None


def _set_db_comment(name: str, shape: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(shape))
            )
        )


def setup_django(db_name: str, data_dir: str) -> None:
    """Points leadflow at `db_name` (environment first, then django.setup()) and migrates it."""
    os.environ["DATABASE_URL"] = _pg_url(db_name)
    os.environ["LEADFLOW_DATA_DIR"] = data_dir
    os.environ.setdefault(
        "LEADFLOW_SECRET_KEY", "benchmark-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    )
    os.environ["LEADFLOW_DEBUG"] = "0"
    os.environ.setdefault("LEADFLOW_LOG_LEVEL", "ERROR")
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadflow.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- generated data -----------------------------------------------------------------------------------

STAGES = [
    ("subscriber", 10),
    ("lead", 34),
    ("mql", 15),
    ("sql", 8),
    ("opportunity", 5),
    ("customer", 4),
    ("recycled", 9),
    ("disqualified", 15),
]
STATUSES = [("new", 30), ("attempting", 20), ("connected", 12), ("nurturing", 22), ("unqualified", 16)]
QUALIFIED = {"mql", "sql", "opportunity", "customer"}
STAGE_PATHS = {
    "mql": [("lead", "mql")],
    "sql": [("lead", "mql"), ("mql", "sql")],
    "opportunity": [("lead", "mql"), ("mql", "sql"), ("sql", "opportunity")],
    "customer": [("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "customer")],
    "recycled": [("lead", "mql"), ("mql", "recycled")],
    "disqualified": [("lead", "disqualified")],
}
# The intake trace of a submission, as the intake flow records it; @ROUTE@ is the routing outcome.
TRACE = json.dumps(
    [
        {"step": "persist_raw", "status": "ok", "summary": "Stored the payload as received", "ms": 0.41},
        {"step": "normalize", "status": "ok", "summary": "Normalized 9 fields", "ms": 0.38},
        {"step": "identify", "status": "ok", "summary": "No existing lead matches: new lead", "ms": 0.52},
        {"step": "upsert", "status": "ok", "summary": "Created the lead", "ms": 1.21},
        {
            "step": "score",
            "status": "ok",
            "summary": "Score 34 (fit 24, engagement 10)",
            "ms": 0.33,
            "detail": {"fit": 24, "engagement": 10, "rules": ["company size 51-200: +10", "title VP: +14"]},
        },
        {
            "step": "qualify",
            "status": "ok",
            "summary": "Stays a lead: no qualification rule matched",
            "ms": 0.12,
        },
        {"step": "route", "status": "ok", "summary": "@ROUTE@", "ms": 0.61},
        {"step": "follow_ups", "status": "ok", "summary": "First-contact task due in 1 h", "ms": 0.27},
    ]
)
SOURCES = [
    ("Google Ads", "ads", 22),
    ("Meta Lead Ads", "webhook", 14),
    ("Website form", "form", 24),
    ("Webinar", "import", 8),
    ("Trade show import", "import", 7),
    ("Referral", "manual", 5),
    ("Partner API", "api", 8),
    ("LinkedIn Lead Gen", "webhook", 5),
    ("Newsletter", "email", 3),
    ("Content download", "form", 2),
    ("Bing Ads", "ads", 1),
    ("Chat widget", "other", 1),
]
COUNTRIES = [("US", 40), ("GB", 12), ("DE", 10), ("FR", 7), ("CA", 6), ("AU", 5), ("BR", 5), ("IN", 5)]
CITIES = {
    "US": ["San Francisco", "New York", "Chicago", "Austin", "Boston", "Seattle"],
    "GB": ["London", "Manchester", "Edinburgh"],
    "DE": ["Berlin", "Munich", "Hamburg"],
    "FR": ["Paris", "Lyon"],
    "CA": ["Toronto", "Vancouver"],
    "AU": ["Sydney", "Melbourne"],
    "BR": ["São Paulo", "Rio de Janeiro"],
    "IN": ["Bengaluru", "Mumbai"],
}
INDUSTRIES = ["Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education", "Media"]
SIZES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5000+"]
TITLES = [
    "CEO",
    "Founder",
    "CMO",
    "VP Marketing",
    "VP Sales",
    "Head of Growth",
    "Marketing Manager",
    "Marketing Operations Manager",
    "RevOps Lead",
    "Sales Operations Manager",
    "Account Executive",
    "Consultant",
]
# kind, summary, payload (JSON text), weight, logged by the owner (True) or by the system
ACTIVITY_TEMPLATES: list[tuple[str, str, str, int, bool]] = [
    ("page_view", "Viewed /pricing", '{"url": "/pricing"}', 10, False),
    ("page_view", "Viewed /features/lead-scoring", '{"url": "/features/lead-scoring"}', 6, False),
    ("page_view", "Viewed /blog/speed-to-lead", '{"url": "/blog/speed-to-lead"}', 6, False),
    ("page_view", "Viewed /docs/api", '{"url": "/docs/api"}', 4, False),
    ("page_view", "Viewed /demo", '{"url": "/demo"}', 4, False),
    ("email", "Email sent: Following up on your request", '{"direction": "out"}', 9, True),
    ("email", "Email received: Re: pricing question", '{"direction": "in"}', 5, True),
    ("email", "Email opened: Monthly digest", "{}", 6, False),
    ("event", "Downloaded the lead-scoring guide", '{"event": "download"}', 5, False),
    ("event", "Attended the webinar", '{"event": "webinar"}', 3, False),
    ("call", "Call: left a voicemail", '{"outcome": "voicemail", "seconds": 40}', 4, True),
    ("call", "Call: discovery, 25 minutes", '{"outcome": "connected", "seconds": 1500}', 3, True),
    ("note", "Interested in the Team plan; decision next quarter.", "{}", 4, True),
    ("note", "Asked for a security questionnaire.", "{}", 3, True),
    ("score_change", "Score 34 → 41 (pricing page visits)", '{"from": 34, "to": 41}', 8, False),
    ("score_change", "Score 41 → 38 (no activity for 14 days)", '{"from": 41, "to": 38}', 3, False),
    ("form_submission", "Submitted the contact form", "{}", 5, False),
    ("stage_change", "Stage lead → mql", '{"from": "lead", "to": "mql"}', 3, False),
    ("stage_change", "Stage mql → sql", '{"from": "mql", "to": "sql"}', 1, True),
    ("status_change", "Status new → attempting", '{"from": "new", "to": "attempting"}', 3, True),
    ("meeting", "Demo meeting held", '{"minutes": 45}', 2, True),
    ("task", "Task done: first contact", "{}", 2, True),
]


@dataclass(frozen=True)
class Org:
    """The people and teams, by id (ids are assigned by the loader, from 1)."""

    admin_id: int
    marketing_id: int
    manager_ids: list[int]  # manager_ids[t] manages team t + 1
    rep_ids: list[int]
    rep_team: dict[int, int]
    team_ids: list[int]


@dataclass
class Shape:
    """What was loaded, kept on the database's comment so --reuse-db can measure it again."""

    leads: int
    activities: int
    hot_lead_ids: list[int]
    hot_lead_activities: list[int]
    seed: int = SEED
    load_seconds: dict[str, float] = field(default_factory=dict)
    table_sizes: dict[str, str] = field(default_factory=dict)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text)).strip("-")


def _clean(text: str) -> str:
    """A value safe in COPY's text format (no tab, newline or backslash)."""
    return re.sub(r"[\t\n\r\\]", " ", text)


def _word_pools(rng: random.Random) -> dict[str, list[str]]:
    """Small pools of first names, last names and companies, drawn once with Faker (never per row)."""
    from faker import Faker

    faker = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"])
    faker.seed_instance(rng.randrange(2**31))
    firsts = sorted({_clean(faker.first_name()) for _ in range(1500)})[:400]
    lasts = sorted({_clean(faker.last_name()) for _ in range(3000)})[:800]
    companies = sorted({_clean(faker.company()) for _ in range(6000)})[:3000]
    return {"first": firsts, "last": lasts, "company": companies}


def _ts(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


def _null(value: object) -> str:
    return NULL if value is None else str(value)


class Generator:
    """Deterministic rows for COPY, in text format; per-lead facts are kept between the tables."""

    def __init__(self, *, leads: int, activities: int, seed: int, now: float) -> None:
        self.n = leads
        self.rng = random.Random(seed)
        self.now = now
        self.pools = _word_pools(self.rng)
        self.org = self._org()
        self.source_ids = list(range(1, len(SOURCES) + 1))
        self._plan_leads()
        self._plan_activities(activities)

    # organisation
    def _org(self) -> Org:
        admin_id, marketing_id = 1, 2
        manager_ids = list(range(3, 3 + TEAMS))
        first_rep = 3 + TEAMS
        rep_ids = list(range(first_rep, first_rep + TEAMS * REPS_PER_TEAM))
        team_ids = list(range(1, TEAMS + 1))
        rep_team = {rep: team_ids[i // REPS_PER_TEAM] for i, rep in enumerate(rep_ids)}
        return Org(admin_id, marketing_id, manager_ids, rep_ids, rep_team, team_ids)

    def users_rows(self, password_hash: str) -> Iterator[str]:
        joined = _ts(self.now - 2 * YEAR - 30 * DAY)
        people = [
            (self.org.admin_id, "admin", "Sam", "Rivera", "admin"),
            (self.org.marketing_id, "marketing", "Priya", "Shah", "marketing"),
        ]
        for i, uid in enumerate(self.org.manager_ids):
            people.append((uid, f"manager{i + 1:02d}", "Manager", f"{i + 1:02d}", "manager"))
        firsts, lasts = self.pools["first"], self.pools["last"]
        for i, uid in enumerate(self.org.rep_ids):
            people.append(
                (uid, f"rep{i + 1:03d}", firsts[i % len(firsts)], lasts[(i * 7) % len(lasts)], "rep")
            )
        for uid, username, first, last, role in people:
            admin = "t" if role == "admin" else "f"
            yield (
                f"{uid}\t{password_hash}\t\\N\t{admin}\t{username}\t{first}\t{last}\t{username}@leadflow.example"
                f"\t{admin}\tt\t{joined}\t{role}\tUTC\tt\n"
            )

    def teams_rows(self) -> Iterator[str]:
        created = _ts(self.now - 2 * YEAR - 30 * DAY)
        for i, team_id in enumerate(self.org.team_ids):
            default = "t" if i == 0 else "f"
            yield f"{team_id}\tTeam {i + 1:02d}\t{self.org.manager_ids[i]}\t{default}\t{created}\n"

    def memberships_rows(self) -> Iterator[str]:
        joined = _ts(self.now - 2 * YEAR - 30 * DAY)
        for i, rep in enumerate(self.org.rep_ids):
            yield f"{i + 1}\t{self.org.rep_team[rep]}\t{rep}\t1\t{joined}\n"

    def sources_rows(self) -> Iterator[str]:
        created = _ts(self.now - 2 * YEAR - 30 * DAY)
        for source_id, (name, channel, _) in zip(self.source_ids, SOURCES, strict=True):
            yield f"{source_id}\t{name}\t{channel}\t{1000 * source_id}.00\tt\t{created}\n"

    # leads
    def _plan_leads(self) -> None:
        """Arrival times (ascending with the id), owners, teams, sources, and the hot leads."""
        rng, n = self.rng, self.n
        start = self.now - 2 * YEAR
        # Growth: the density of arrivals rises over the two years (more recent leads).
        self.created = sorted(start + 2 * YEAR * rng.random() ** 0.6 for _ in range(n))
        self.created_ts = [_ts(created) for created in self.created]
        reps = self.org.rep_ids
        rep_weights = [0.5 + rng.random() for _ in reps]
        owners: list[int | None] = list(rng.choices(reps, weights=rep_weights, k=n))
        teams: list[int | None] = [self.org.rep_team[o] for o in owners if o is not None]
        for i in range(n):
            roll = rng.random()
            if roll < 0.12:  # the unassigned pool of a team
                owners[i] = None
                teams[i] = rng.choice(self.org.team_ids)
            elif roll < 0.13:  # neither owner nor team (only admins and marketing see these)
                owners[i] = None
                teams[i] = None
        self.owner = owners
        self.team = teams
        self.source = rng.choices(self.source_ids, weights=[w for _, _, w in SOURCES], k=n)
        self.stage = rng.choices([s for s, _ in STAGES], weights=[w for _, w in STAGES], k=n)
        statuses = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES], k=n)
        self.status = [
            "converted" if stage == "customer" else s for stage, s in zip(self.stage, statuses, strict=True)
        ]
        self.emails: list[str] = []
        # Hot leads: old enough to have piled up activity; the first belongs to the benchmark rep (rep001).
        hot_count = max(2, n // LEADS_PER_HOT_LEAD)
        self.hot = sorted(rng.sample(range(n // 10, n // 2), hot_count))
        for k, i in enumerate(self.hot):
            rep = reps[0] if k == 0 else rng.choice(reps)
            self.owner[i], self.team[i], self.stage[i] = rep, self.org.rep_team[rep], "opportunity"

    def lead_id(self, index: int) -> int:
        return index + 1

    def _plan_activities(self, total: int) -> None:
        """Activities per lead: 5–14 for most (around the mean), the rest shared by the hot leads."""
        rng, n = self.rng, self.n
        mean = (1 - HOT_SHARE) * total / n
        low = max(1, int(mean) - 4)
        counts = [rng.randint(low, low + 9) for _ in range(n)]
        for i in self.hot:
            counts[i] = 0
        left = total - sum(counts)
        if left < 1_000 * len(self.hot):
            raise SystemExit("--activities is too small for --leads (about 10 per lead are needed).")
        weights = [0.5 + rng.random() for _ in self.hot]
        for k, i in enumerate(self.hot):
            share = left if k == len(self.hot) - 1 else int(left * weights[k] / sum(weights[k:]))
            counts[i], left = share, left - share
        self.counts = counts
        # Each lead is active for a while after it arrives; hot leads until today.
        self.last_activity = [
            min(self.now - 60, c + max(3600.0, rng.expovariate(1 / (45 * DAY)))) for c in self.created
        ]
        for i in self.hot:
            self.last_activity[i] = self.now - rng.random() * 3600

    def leads_rows(self) -> Iterator[str]:
        rng = self.rng
        firsts, lasts, companies = self.pools["first"], self.pools["last"], self.pools["company"]
        in_email = {name: _ascii(name).replace(" ", "") for name in firsts + lasts}
        domains = {company: f"{_slug(company)[:40]}.com" for company in companies}
        countries = rng.choices([c for c, _ in COUNTRIES], weights=[w for _, w in COUNTRIES], k=self.n)
        self.emails.clear()
        for i in range(self.n):
            lead_id = i + 1
            first, last = rng.choice(firsts), rng.choice(lasts)
            company = rng.choice(companies)
            domain = domains[company]
            email = f"{in_email[first]}.{in_email[last]}.{lead_id}@{domain}"
            self.emails.append(email)
            country = countries[i]
            stage, status = self.stage[i], self.status[i]
            fit = min(60, int(rng.betavariate(2, 4) * 60))
            engagement = min(40, int(rng.betavariate(1.5, 5) * 40))
            grade = "A" if fit >= 45 else "B" if fit >= 30 else "C" if fit >= 15 else "D"
            created = self.created[i]
            owner = self.owner[i]
            assigned = _ts(created + 60 + rng.random() * 600) if owner is not None else None
            responded = (
                _ts(created + 600 + rng.random() * 7200) if owner is not None and rng.random() < 0.7 else None
            )
            qualified = _ts(created + rng.random() * 20 * DAY) if stage in QUALIFIED else None
            converted = _ts(created + 30 * DAY) if stage == "customer" else None
            last_activity = _ts(self.last_activity[i])
            yield (
                f"{lead_id}\t{first}\t{last}\t{email}\t{email}\t+1 (415) 555-{lead_id % 10_000:04d}"
                f"\t+1415{lead_id:07d}\t{company}\t{domain}\t{rng.choice(TITLES)}\thttps://www.{domain}"
                f"\t{country}\t\t{rng.choice(CITIES[country])}\t{rng.choice(INDUSTRIES)}\t{rng.choice(SIZES)}"
                f"\t\\N\t\t\t\ten\t\t{{}}\t{{}}\t{stage}\t{status}\t{fit + engagement}\t{fit}\t{engagement}"
                f"\t{grade}\tf\t{_null(owner)}\t{_null(self.team[i])}\t{self.source[i]}\t{lead_id}\t{lead_id}"
                f"\t{self.created_ts[i]}\t{last_activity}\t{_null(assigned)}\t{_null(responded)}\t{_null(qualified)}"
                f"\t{_null(converted)}\t{last_activity}\n"
            )

    def touches_rows(self) -> Iterator[str]:
        """One touch per lead (id = lead id): its first and last touch."""
        utm = [
            ("google", "cpc", "brand-search"),
            ("linkedin", "social", "q4-launch"),
            ("newsletter", "email", "digest"),
            ("", "", ""),
        ]
        channels = {i + 1: channel for i, (_, channel, _) in enumerate(SOURCES)}
        for i in range(self.n):
            source, medium, campaign = utm[i % len(utm)]
            source_id = self.source[i]
            yield (
                f"{i + 1}\t{i + 1}\t\\N\t{channels[source_id]}\t{source_id}\t{source}\t{medium}"
                f"\t{campaign}\t\t\thttps://www.{source or 'example'}.com/\thttps://www.leadflow.example/pricing"
                f"\t\t\t\t{self.created_ts[i]}\n"
            )

    def identities_rows(self) -> Iterator[str]:
        for i in range(self.n):
            yield f"{i + 1}\t{i + 1}\temail\t{self.emails[i]}\t{self.created_ts[i]}\n"

    def submissions_rows(self) -> Iterator[str]:
        """The web-form submission that created each lead, with its intake trace (id = lead id)."""
        channels = {i + 1: channel for i, (_, channel, _) in enumerate(SOURCES)}
        names = {i + 1: name for i, (name, _, _) in enumerate(SOURCES)}
        for i in range(self.n):
            source_id, owner = self.source[i], self.owner[i]
            payload = json.dumps(
                {"email": self.emails[i], "source": names[source_id], "utm_source": "google"}
            )
            route = f"Assigned to user {owner} by round robin" if owner else "Left in the team pool"
            trace = TRACE.replace("@ROUTE@", route)
            received = self.created[i]
            yield (
                f"{i + 1}\t{channels[source_id]}\t{source_id}\t{payload}\t\t\\N\t\\N\tprocessed\tcreated"
                f"\t{{}}\t{trace}\t{i + 1}\t\\N\t1\t{self.created_ts[i]}\t{_ts(received + 1)}\n"
            )

    def transitions_rows(self) -> Iterator[str]:
        """The stage path to each lead's stage, and its status change when it left "new"."""
        transition_id = 0
        for i in range(self.n):
            actor = _null(self.owner[i])
            when = self.created[i]
            lines = []
            for from_value, to_value in STAGE_PATHS.get(self.stage[i], []):
                transition_id += 1
                when += DAY
                lines.append(
                    f"{transition_id}\t{i + 1}\tstage\t{from_value}\t{to_value}\t{actor}\t\t{_ts(when)}\n"
                )
            if self.status[i] != "new":
                transition_id += 1
                lines.append(
                    f"{transition_id}\t{i + 1}\tstatus\tnew\t{self.status[i]}\t{actor}\t\t{_ts(when + 60)}\n"
                )
            yield "".join(lines)

    def consents_rows(self) -> Iterator[str]:
        """Email consent for two leads in five, given on the form."""
        consent_id = 0
        for i in range(self.n):
            if i % 5 < 2:
                consent_id += 1
                yield (
                    f"{consent_id}\t{i + 1}\temail\tgranted\tform checkbox\tYes, send me product news."
                    f"\t{i + 1}\t{self.created_ts[i]}\n"
                )

    def activities_rows(self) -> Iterator[str]:
        """The timelines, lead by lead: a capture, an assignment, then a weighted mix of the rest."""
        rng = self.rng
        kinds = ACTIVITY_TEMPLATES
        cum: list[float] = []
        acc = 0.0
        for template in kinds:
            acc += template[3]
            cum.append(acc)
        activity_id = 0
        for i in range(self.n):
            count = self.counts[i]
            lead_id = i + 1
            created, last = self.created[i], self.last_activity[i]
            owner = self.owner[i]
            actor = _null(owner)
            activity_id += 1
            lines = [f"{activity_id}\t{lead_id}\tcapture\t{self.created_ts[i]}\t\\N\tCaptured\t{{}}\t\\N\n"]
            rest = count - 1
            if owner is not None and rest > 0:
                activity_id += 1
                lines.append(
                    f"{activity_id}\t{lead_id}\tassignment\t{_ts(created + 30)}\t\\N\tAssigned to rep {owner}"
                    f'\t{{"owner_id": {owner}}}\t\\N\n'
                )
                rest -= 1
            if rest > 0:
                span = last - created - 60
                times = sorted(created + 60 + span * rng.random() for _ in range(rest - 1))
                times.append(last)
                for when, (kind, summary, payload, _, by_owner) in zip(
                    times, rng.choices(kinds, cum_weights=cum, k=rest), strict=True
                ):
                    activity_id += 1
                    lines.append(
                        f"{activity_id}\t{lead_id}\t{kind}\t{_ts(when)}\t{actor if by_owner else NULL}"
                        f"\t{summary}\t{payload}\t\\N\n"
                    )
            yield "".join(lines)


LOAD_COLUMNS: dict[str, list[str]] = {
    "access_user": [
        "id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
        "is_staff", "is_active", "date_joined", "role", "timezone", "accepts_leads",
    ],
    "access_team": ["id", "name", "manager_id", "is_default", "created_at"],
    "access_membership": ["id", "team_id", "user_id", "weight", "joined_at"],
    "leads_source": ["id", "name", "channel", "cost", "is_active", "created_at"],
    "leads_lead": [
        "id", "first_name", "last_name", "email", "email_normalized", "phone", "phone_e164", "company",
        "company_domain", "job_title", "website", "country", "region", "city", "industry", "company_size",
        "annual_revenue", "budget", "purchase_timeframe", "product_interest", "language", "timezone",
        "custom", "extra", "stage", "status", "score", "fit_score", "engagement_score", "grade", "is_test",
        "owner_id", "team_id", "source_id", "first_touch_id", "last_touch_id", "created_at", "updated_at",
        "assigned_at", "first_response_at", "qualified_at", "converted_at", "last_activity_at",
    ],
    "leads_touch": [
        "id", "lead_id", "submission_id", "channel", "source_id", "utm_source", "utm_medium", "utm_campaign",
        "utm_term", "utm_content", "referrer", "landing_page", "gclid", "fbclid", "msclkid", "occurred_at",
    ],
    "leads_leadidentity": ["id", "lead_id", "kind", "value", "created_at"],
    "capture_submission": [
        "id", "channel", "source_id", "payload", "raw_body", "original_payload", "idempotency_key", "status",
        "outcome", "errors", "trace", "lead_id", "actor_id", "attempts", "received_at", "processed_at",
    ],
    "leads_stagetransition": [
        "id", "lead_id", "field", "from_value", "to_value", "actor_id", "reason", "occurred_at",
    ],
    "leads_consent": [
        "id", "lead_id", "channel", "state", "method", "text_shown", "submission_id", "recorded_at",
    ],
    "leads_activity": [
        "id", "lead_id", "kind", "occurred_at", "actor_id", "summary", "payload", "submission_id",
    ],
}  # fmt: skip
BIG_TABLES = [
    "leads_lead",
    "leads_touch",
    "leads_leadidentity",
    "capture_submission",
    "leads_stagetransition",
    "leads_consent",
    "leads_activity",
]


@dataclass(frozen=True)
class Filler:
    """Columns the generator does not know (added to the models later), with their model default."""

    columns: list[str]
    suffix: str  # appended to every row: a tab and the COPY text of each default


def _copy_text(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _fillers(conn: Any) -> dict[str, Filler]:
    """Checks the loaded columns against the tables; NOT NULL columns the generator does not fill
    get their Django field default (Django keeps defaults in Python, not in the table)."""
    from django.apps import apps

    models = {model._meta.db_table: model for model in apps.get_models()}
    fillers: dict[str, Filler] = {}
    for table, columns in LOAD_COLUMNS.items():
        rows = conn.execute(
            "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'"
            " FROM information_schema.columns WHERE table_name = %s",
            [table],
        ).fetchall()
        unknown = set(columns) - {name for name, _ in rows}
        if unknown:
            raise SystemExit(f"{table}: the generator fills columns the table lacks: {sorted(unknown)}")
        missing = [name for name, required in rows if required and name not in columns]
        by_column = {field.column: field for field in models[table]._meta.concrete_fields}
        defaults = []
        for name in missing:
            field = by_column[name]
            if not field.has_default() and not field.empty_strings_allowed:
                raise SystemExit(
                    f"{table}.{name} is NOT NULL without a default: teach the generator about it"
                )
            defaults.append(_copy_text(field.get_default()))
        if missing:
            print(f"  {table}: {', '.join(missing)} filled with the model defaults", flush=True)
        fillers[table] = Filler(columns=missing, suffix="".join(f"\t{value}" for value in defaults))
    return fillers


def _copy(conn: Any, table: str, rows: Iterator[str], filler: Filler) -> int:
    columns = ", ".join(LOAD_COLUMNS[table] + filler.columns)
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch: list[str] = []

        def flush() -> int:
            chunk = "".join(batch)
            if filler.suffix:
                chunk = chunk.replace("\n", f"{filler.suffix}\n")
            copy.write(chunk)
            batch.clear()
            return chunk.count("\n")

        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK_ROWS:
                count += flush()
        count += flush()
    return count


def load(db_name: str, *, leads: int, activities: int) -> Shape:
    """Fills a migrated, empty database with COPY; secondary indexes are built after the data."""
    import psycopg
    from django.contrib.auth.hashers import make_password

    timings: dict[str, float] = {}
    started = time.perf_counter()
    gen = Generator(leads=leads, activities=activities, seed=SEED, now=time.time())
    timings["plan"] = time.perf_counter() - started
    print(f"  planned {leads:,} leads and {activities:,} activities in {timings['plan']:.1f} s", flush=True)
    with psycopg.connect(_pg_url(db_name)) as conn:
        fillers = _fillers(conn)
        conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        index_sql: list[str] = []
        for table in BIG_TABLES:
            for name, definition in conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid = %s::regclass"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [table],
            ).fetchall():
                conn.execute(f"DROP INDEX {name}")
                index_sql.append(definition)
        conn.commit()
        steps: list[tuple[str, Callable[[], Iterator[str]]]] = [
            ("access_user", lambda: gen.users_rows(make_password(PASSWORD))),
            ("access_team", gen.teams_rows),
            ("access_membership", gen.memberships_rows),
            ("leads_source", gen.sources_rows),
            ("leads_lead", gen.leads_rows),
            ("leads_touch", gen.touches_rows),
            ("leads_leadidentity", gen.identities_rows),
            ("capture_submission", gen.submissions_rows),
            ("leads_stagetransition", gen.transitions_rows),
            ("leads_consent", gen.consents_rows),
            ("leads_activity", gen.activities_rows),
        ]
        for table, rows in steps:
            t0 = time.perf_counter()
            count = _copy(conn, table, rows(), fillers[table])
            conn.commit()
            timings[f"copy {table}"] = time.perf_counter() - t0
            print(f"  COPY {table}: {count:,} rows in {timings[f'copy {table}']:.1f} s", flush=True)
        gen.emails.clear()
        t0 = time.perf_counter()
        for definition in index_sql:
            conn.execute(definition)
            conn.commit()
        timings["indexes"] = time.perf_counter() - t0
        print(f"  {len(index_sql)} secondary indexes built in {timings['indexes']:.1f} s", flush=True)
        for table in LOAD_COLUMNS:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.commit()
    t0 = time.perf_counter()
    with psycopg.connect(_pg_url(db_name), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        sizes = {
            table: conn.execute(
                "SELECT pg_size_pretty(pg_table_size(%s::regclass)) || ' + indexes '"
                " || pg_size_pretty(pg_indexes_size(%s::regclass))",
                [table, table],
            ).fetchone()[0]  # type: ignore[index]
            for table in BIG_TABLES
        }
    timings["vacuum analyze"] = time.perf_counter() - t0
    print(f"  VACUUM ANALYZE in {timings['vacuum analyze']:.1f} s", flush=True)
    timings["total"] = time.perf_counter() - started
    return Shape(
        leads=leads,
        activities=activities,
        hot_lead_ids=[gen.lead_id(i) for i in gen.hot],
        hot_lead_activities=[gen.counts[i] for i in gen.hot],
        load_seconds={k: round(v, 1) for k, v in timings.items()},
        table_sizes=sizes,
    )


# --- the measurement ----------------------------------------------------------------------------------


@dataclass
class Scenario:
    surface: str  # "web" or "api"
    page: str  # "list" or "detail"
    name: str
    viewer: str
    urls: list[str] | Callable[[], list[str]]  # a callable when finding them costs requests

    @property
    def target_ms(self) -> float:
        return LIST_TARGET_MS if self.page == "list" else DETAIL_TARGET_MS

    @property
    def key(self) -> str:
        return f"{self.surface} {self.page} {self.name} ({self.viewer})"


@dataclass
class Result:
    surface: str
    page: str
    name: str
    viewer: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    app_cpu_ms: float  # mean CPU of this process (client, middleware, view, template) per request
    db_cpu_ms: float  # mean CPU of the PostgreSQL backend per request (parallel workers not included)
    queries: int
    sql_ms: float
    slowest_query_ms: float
    target_ms: float
    slowest_sql: str = field(repr=False)
    example_url: str = ""

    @property
    def met(self) -> bool:
        return self.p95_ms <= self.target_ms


def _web_views_ready() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("web:lead_list")
        reverse("web:lead_detail", kwargs={"lead_id": 1})
    except NoReverseMatch:
        return False
    return True


NEXT_LINK = re.compile(r"<a\b[^>]*\brel=\"next\"[^>]*>", re.IGNORECASE)
HREF = re.compile(r"\bhref=\"([^\"]*)\"")


def _next_href(page_html: str, path: str) -> str | None:
    """The "next page" link of a list page: an <a rel="next">, else the first link carrying a cursor."""
    tag = NEXT_LINK.search(page_html)
    candidates = [HREF.search(tag.group(0))] if tag else []
    candidates += list(HREF.finditer(page_html))
    for match in candidates:
        if match and "cursor=" in match.group(1):
            href = html.unescape(match.group(1))
            return href if href.startswith("/") else f"{path}{href}" if href.startswith("?") else href
    return None


def _follow(client: Any, url: str, pages: int, next_of: Callable[[Any, str], str | None]) -> str:
    for _ in range(pages):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        nxt = next_of(response, url)
        if nxt is None:
            raise SystemExit(f"No next page after {url}: ask for fewer --deep-pages (or load more leads).")
        url = nxt
    return url


def _api_next(response: Any, url: str) -> str | None:
    cursor = response.json()["next_cursor"]
    if cursor is None:
        return None
    base = re.sub(r"[&?]cursor=[^&]*", "", url)
    return f"{base}{'&' if '?' in base else '?'}cursor={cursor}"


def _web_next(response: Any, url: str) -> str | None:
    return _next_href(response.content.decode(), url.split("?", maxsplit=1)[0])


class Bench:
    def __init__(self, shape: Shape, *, requests: int, budget: float, deep_pages: int) -> None:
        from django.db import connection
        from django.test import Client

        from leadflow.access.models import ApiScope, User
        from leadflow.access.services import api_key_create

        self.shape = shape
        # One connection for the whole run (never recycled), so its backend's CPU can be read from /proc.
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = None
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend_pid: int = cursor.fetchone()[0]
        self.requests = requests
        self.budget = budget
        self.deep_pages = deep_pages
        self.rng = random.Random(SEED + 1)
        self.viewers = {
            "admin": User.objects.get(username="admin"),
            "manager": User.objects.get(username="manager01"),
            "rep": User.objects.get(username="rep001"),
        }
        self.web: dict[str, Any] = {}
        self.api: dict[str, Any] = {}
        for role, user in self.viewers.items():
            self.web[role] = Client()
            self.web[role].force_login(user)
            secret = api_key_create(name=f"uibench {role}", scopes=[ApiScope.READ], user=user).secret
            self.api[role] = Client(headers={"Authorization": f"Bearer {secret}"})
        self.search_words = self._search_words()

    def _search_words(self) -> dict[str, list[str]]:
        """Free-text searches: a last name (about 1 lead in 800 has it), and a person's first + last name."""
        from leadflow.leads.models import Lead

        sample = list(
            Lead.objects.filter(
                id__in=[self.rng.randint(1, self.shape.leads) for _ in range(40)]
            ).values_list("first_name", "last_name")
        )
        return {
            "name": [last for _, last in sample if " " not in last][:10],
            "person": [f"{first} {last}" for first, last in sample][:10],
        }

    def typical_leads(self, role: str, count: int = 50) -> list[int]:
        """Visible leads with an ordinary timeline, drawn at random."""
        from leadflow.leads.selectors import lead_visible

        visible = lead_visible(viewer=self.viewers[role]).exclude(id__in=self.shape.hot_lead_ids)
        picked: list[int] = []
        while len(picked) < count:
            ids = [self.rng.randint(1, self.shape.leads) for _ in range(5000)]
            picked += list(visible.filter(id__in=ids).values_list("id", flat=True)[: count - len(picked)])
        return picked

    def scenarios(self, role: str, *, web: bool) -> list[Scenario]:
        """The list and detail scenarios of one viewer: web pages (when they exist), then the API."""
        from django.urls import reverse

        hot = self.shape.hot_lead_ids[0]
        typical = self.typical_leads(role)
        deep = f"page {self.deep_pages + 1}"
        found: list[Scenario] = []
        if web:
            base = reverse("web:lead_list")

            def detail(lead_id: int) -> str:
                return reverse("web:lead_detail", kwargs={"lead_id": lead_id})

            found += [
                Scenario("web", "list", "first page", role, [base]),
                *self._filtered("web", role, base),
                Scenario("web", "list", "sorted by score", role, [f"{base}?sort=-score"]),
                Scenario(
                    "web",
                    "list",
                    deep,
                    role,
                    lambda: [_follow(self.web[role], base, self.deep_pages, _web_next)],
                ),
                Scenario("web", "detail", "typical lead", role, [detail(i) for i in typical]),
                Scenario("web", "detail", "10k+ activities", role, [detail(hot)]),
            ]
        api = "/api/v1/leads"
        found += [
            Scenario("api", "list", "first page", role, [api]),
            *self._filtered("api", role, api),
            Scenario(
                "api", "list", deep, role, lambda: [_follow(self.api[role], api, self.deep_pages, _api_next)]
            ),
            Scenario("api", "detail", "lead, typical", role, [f"{api}/{i}" for i in typical]),
            Scenario("api", "detail", "timeline, typical", role, [f"{api}/{i}/timeline" for i in typical]),
            Scenario("api", "detail", "timeline, 10k+ activities", role, [f"{api}/{hot}/timeline"]),
        ]
        return found

    def _backend_cpu(self) -> float:
        """CPU seconds used so far by the PostgreSQL backend serving this process's connection."""
        fields = Path(f"/proc/{self.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def _filtered(self, surface: str, role: str, base: str) -> list[Scenario]:
        """The list with a stage filter (each stage in turn) and with free text (a name, a person)."""
        searches = self.search_words
        return [
            Scenario(surface, "list", "stage filter", role, [f"{base}?stage={s}" for s, _ in STAGES]),
            Scenario(
                surface,
                "list",
                "search: last name",
                role,
                [f"{base}?q={quote_plus(w)}" for w in searches["name"]],
            ),
            Scenario(
                surface,
                "list",
                "search: first + last",
                role,
                [f"{base}?q={quote_plus(p)}" for p in searches["person"]],
            ),
        ]

    def run(self, scenario: Scenario) -> Result:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = (self.web if scenario.surface == "web" else self.api)[scenario.viewer]
        urls = scenario.urls if isinstance(scenario.urls, list) else scenario.urls()

        def get(k: int) -> float:
            url = urls[k % len(urls)]
            t0 = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code} to the {scenario.viewer}")
            return elapsed

        for k in range(WARMUP):
            get(k)
        times: list[float] = []
        deadline = time.perf_counter() + self.budget
        app_cpu, db_cpu = time.process_time(), self._backend_cpu()
        for k in range(self.requests):
            times.append(get(k))
            if len(times) >= MIN_SAMPLES and time.perf_counter() > deadline:
                break
        app_cpu, db_cpu = time.process_time() - app_cpu, self._backend_cpu() - db_cpu
        # One URL's SQL, SQL_RUNS times; each query's fastest run, so noise does not pick the slowest.
        runs = []
        for _ in range(SQL_RUNS):
            with CaptureQueriesContext(connection) as captured:
                get(len(urls) - 1)
            runs.append(captured.captured_queries)
        queries = runs[0]
        query_ms = [float(q["time"]) * 1000 for q in queries]
        if all(len(run) == len(queries) for run in runs):
            query_ms = [min(float(run[k]["time"]) * 1000 for run in runs) for k in range(len(queries))]
        slowest = max(range(len(query_ms)), key=query_ms.__getitem__)
        times.sort()
        return Result(
            surface=scenario.surface,
            page=scenario.page,
            name=scenario.name,
            viewer=scenario.viewer,
            samples=len(times),
            p50_ms=round(percentile(times, 50), 1),
            p95_ms=round(percentile(times, 95), 1),
            p99_ms=round(percentile(times, 99), 1),
            max_ms=round(times[-1], 1),
            app_cpu_ms=round(app_cpu * 1000 / len(times), 1),
            db_cpu_ms=round(db_cpu * 1000 / len(times), 1),
            queries=len(query_ms),
            sql_ms=round(sum(query_ms), 1),
            slowest_query_ms=round(query_ms[slowest], 1),
            target_ms=scenario.target_ms,
            slowest_sql=queries[slowest]["sql"],
            example_url=urls[-1],
        )


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def markdown_table(results: list[Result]) -> str:
    """A row per scenario: wall-clock percentiles, mean CPU per request, the SQL of one request."""
    lines = [
        "| surface | page | scenario | viewer | n | p50 ms | p95 ms | p99 ms | max ms | CPU app ms "
        "| CPU db ms | queries | SQL ms | slowest query ms | p95 target |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        verdict = "met" if r.met else "**missed**"
        lines.append(
            f"| {r.surface} | {r.page} | {r.name} | {r.viewer} | {r.samples} | {r.p50_ms:.1f} "
            f"| {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {r.app_cpu_ms:.1f} | {r.db_cpu_ms:.1f} "
            f"| {r.queries} | {r.sql_ms:.1f} | {r.slowest_query_ms:.1f} | ≤ {r.target_ms:.0f}: {verdict} |"
        )
    return "\n".join(lines)


def pg_config() -> dict[str, str]:
    from django.db import connection

    names = [
        "server_version",
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "random_page_cost",
        "jit",
    ]
    with connection.cursor() as cursor:
        values = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            values[name] = cursor.fetchone()[0]
    return values


def measure(shape: Shape, args: argparse.Namespace) -> dict[str, Any]:
    web = _web_views_ready() and not args.api_only
    print(
        "Web pages: " + ("measured" if web else "skipped (--api-only)" if args.api_only else "NOT built yet")
    )
    bench = Bench(shape, requests=args.requests, budget=args.budget, deep_pages=args.deep_pages)
    results: list[Result] = []
    for role in ("admin", "manager", "rep"):
        for scenario in bench.scenarios(role, web=web):
            if args.only and not any(text in scenario.key for text in args.only):
                continue
            result = bench.run(scenario)
            results.append(result)
            print(
                f"  {result.surface:3} {result.page:6} {result.name:26} {role:7} n={result.samples:3}"
                f" p50={result.p50_ms:7.1f} p95={result.p95_ms:7.1f} p99={result.p99_ms:7.1f}"
                f" max={result.max_ms:7.1f} ms  cpu app/db={result.app_cpu_ms:.1f}/{result.db_cpu_ms:.1f}"
                f" queries={result.queries} sql={result.sql_ms:.1f} slowest={result.slowest_query_ms:.1f} ms"
                f"{'' if result.met else '  MISSED'}",
                flush=True,
            )
    slowest = max(results, key=lambda r: r.p95_ms)
    to_explain = [slowest] + [
        r for r in sorted(results, key=lambda r: -r.p95_ms) if not r.met and r is not slowest
    ]
    plans = {}
    for r in to_explain[: args.explain]:
        key = f"{r.surface} {r.page} {r.name} ({r.viewer})"
        plans[key] = {"sql": r.slowest_sql, "plan": explain(r.slowest_sql)}
    return {"web_views": web, "results": results, "plans": plans}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per scenario before it stops early"
    )
    parser.add_argument("--keep-db", metavar="NAME", help="create the database under NAME and keep it")
    parser.add_argument("--reuse-db", metavar="NAME", help="measure a database kept by an earlier --keep-db")
    parser.add_argument("--deep-pages", type=int, default=50, help="pages to follow for the deep page")
    parser.add_argument(
        "--load-only", action="store_true", help="create and load the database, measure nothing"
    )
    parser.add_argument("--api-only", action="store_true", help="skip the web pages even if they exist")
    parser.add_argument(
        "--only", action="append", metavar="TEXT", help='run the scenarios whose name has TEXT, e.g. "search"'
    )
    parser.add_argument("--explain", type=int, default=4, help="EXPLAIN ANALYZE this many slow scenarios")
    parser.add_argument("--json", type=Path, help="write the figures and plans to this file")
    args = parser.parse_args()
    if args.keep_db and args.reuse_db:
        parser.error("--keep-db and --reuse-db exclude each other")
    if args.load_only and args.reuse_db:
        parser.error("--load-only loads a new database; it cannot reuse one")
    name = args.reuse_db or args.keep_db or f"leadflow_uibench_{os.getpid()}"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        parser.error("database names are lowercase letters, digits and _")
    machine = machine_summary()
    data_dir = tempfile.mkdtemp(prefix="leadflow-uibench-")
    created = django_ready = False
    try:
        started = time.perf_counter()
        if args.reuse_db:
            stored = _db_comment(name)
            if stored is None:
                raise SystemExit(f"{name} was not loaded by this benchmark (no shape in its comment).")
            shape = Shape(**stored)
            setup_django(name, data_dir)
            django_ready = True
            print(f"Reusing {name}: {shape.leads:,} leads, {shape.activities:,} activities.", flush=True)
        else:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{name}"')
            created = True
            setup_django(name, data_dir)
            django_ready = True
            migrated = time.perf_counter() - started
            print(f"Created and migrated {name} in {migrated:.1f} s; loading…", flush=True)
            shape = load(name, leads=args.leads, activities=args.activities)
            shape.load_seconds["migrate"] = round(migrated, 1)
            _set_db_comment(name, asdict(shape))
            print(f"Loaded in {shape.load_seconds['total']:.0f} s; sizes: {shape.table_sizes}", flush=True)
        if args.load_only:
            print(f"Machine: {machine}")
            return
        outcome = measure(shape, args)
        results: list[Result] = outcome["results"]
        print()
        machine["loadavg_at_end"] = machine_summary()["loadavg_at_start"]
        print(f"Machine: {machine}")
        print(f"PostgreSQL: {pg_config()}")
        hot = dict(zip(shape.hot_lead_ids, shape.hot_lead_activities, strict=True))
        print(f"Shape: {shape.leads:,} leads, {shape.activities:,} activities; hot leads (id: count): {hot}")
        print(f"Load seconds: {shape.load_seconds}")
        print()
        print(markdown_table(results))
        for key, plan in outcome["plans"].items():
            print(
                f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query of: {key}\n{plan['sql']}\n{plan['plan']}"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "machine": machine,
                        "postgres": pg_config(),
                        "shape": asdict(shape),
                        "web_views": outcome["web_views"],
                        "results": [asdict(r) for r in results],
                        "plans": outcome["plans"],
                    },
                    indent=2,
                    default=str,
                )
            )
    finally:
        if django_ready:
            from django.db import connections

            connections.close_all()
        if created and not args.keep_db:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"Dropped {name}.")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
