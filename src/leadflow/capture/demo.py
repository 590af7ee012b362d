"""Demo data: a small sales organisation and a realistic lead base, captured through the intake flow.

Everything is derived from one seed (Faker and random.Random), so the same seed gives the same
people, companies, stages and timelines. Leads enter through leads_capture_bulk like any import,
then are worked with the lead services; afterwards every timestamp is moved back into the last
90 days, keeping each lead's order of events.
"""

import random
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.utils import timezone
from faker import Faker

from leadflow.access.models import Role, Team, User
from leadflow.access.services import team_create, team_member_add, user_create
from leadflow.capture.models import Submission
from leadflow.capture.services import leads_capture_bulk
from leadflow.core.config import config_snapshot
from leadflow.core.db import bulk_update_fast
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Campaign,
    Channel,
    Consent,
    Lead,
    LeadIdentity,
    Source,
    Stage,
    StageTransition,
    Status,
    Task,
    Touch,
)
from leadflow.leads.services import activity_create, lead_stage_change, lead_status_change, note_add
from leadflow.scoring.models import RescoreRun, RescoreStatus
from leadflow.scoring.services import activity_score, rescore_execute, rule_create

DAYS = 90
SITE = "https://www.example.com"


class DemoError(ValueError):
    """The demo cannot be loaded here; str(err) says why."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    teams: tuple[str, ...]


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    users: list[DemoUser]
    teams: list[str]
    default_team: str
    sources: list[tuple[str, Decimal]]
    campaigns: list[tuple[str, Decimal]]
    leads_by_stage: dict[str, int]
    submissions: int
    updates: int
    quarantined: int


# username, first name, last name, role, time zone, teams (the first team listed is managed, for a manager)
USERS = [
    ("admin", "Sam", "Rivera", Role.ADMIN, "America/New_York", ()),
    ("marketing", "Priya", "Shah", Role.MARKETING, "America/New_York", ()),
    ("manager", "Marcus", "Johnson", Role.MANAGER, "America/Chicago", ()),
    ("olivia", "Olivia", "Bennett", Role.REP, "America/New_York", ("Inbound",)),
    ("james", "James", "Okafor", Role.REP, "America/Chicago", ("Inbound", "Enterprise")),
    ("sofia", "Sofia", "Martínez", Role.REP, "America/Los_Angeles", ("Inbound",)),
    ("liam", "Liam", "O'Connor", Role.REP, "Europe/Dublin", ("Enterprise", "EMEA")),
    ("hannah", "Hannah", "Schmidt", Role.REP, "Europe/Berlin", ("EMEA",)),
    ("lucas", "Lucas", "Moreau", Role.REP, "Europe/Paris", ("EMEA",)),
]
TEAMS = ["Inbound", "Enterprise", "EMEA"]  # the first is the default team

# name, channel, cost over the period, share of leads
SOURCES = [
    ("Google Ads", Channel.ADS, Decimal("4800.00"), 22),
    ("Meta Lead Ads", Channel.WEBHOOK, Decimal("3200.00"), 15),
    ("Website form", Channel.FORM, Decimal("0.00"), 25),
    ("Webinar", Channel.IMPORT, Decimal("1500.00"), 11),
    ("Trade show import", Channel.IMPORT, Decimal("12000.00"), 10),
    ("Referral", Channel.MANUAL, Decimal("500.00"), 6),
    ("Partner API", Channel.API, Decimal("2000.00"), 11),
]

# name, utm_campaign, source, cost, days ago it started, days it ran (None: still running)
CAMPAIGNS = [
    ("Brand search", "brand-search", "Google Ads", Decimal("1800.00"), 120, None),
    ("Competitor keywords", "competitor-search", "Google Ads", Decimal("3000.00"), 120, None),
    ("Retargeting: pricing page", "retargeting-pricing", "Meta Lead Ads", Decimal("1200.00"), 120, None),
    ("Lookalike: SaaS marketers", "lookalike-saas", "Meta Lead Ads", Decimal("2000.00"), 120, None),
    ("Webinar: Speed to lead", "webinar-speed-to-lead", "Webinar", Decimal("700.00"), 62, 1),
    ("Webinar: Scoring sales trusts", "webinar-lead-scoring", "Webinar", Decimal("800.00"), 21, 1),
    ("RevOps Summit booth", "revops-summit", "Trade show import", Decimal("12000.00"), 46, 2),
]


@dataclass(frozen=True)
class Country:
    code: str
    name: str  # as people type it into forms
    locale: str
    weight: int
    tld: str
    language: str
    cities: tuple[tuple[str, str, str], ...]  # city, region, area code (North America) or ""


COUNTRIES = [
    Country("US", "United States", "en_US", 40, "com", "en", (
        ("San Francisco", "CA", "415"), ("New York", "NY", "212"), ("Chicago", "IL", "312"),
        ("Austin", "TX", "512"), ("Boston", "MA", "617"), ("Seattle", "WA", "206"), ("Denver", "CO", "303"),
        ("Atlanta", "GA", "404"),
    )),
    Country("CA", "Canada", "en_CA", 6, "ca", "en", (
        ("Toronto", "ON", "416"), ("Vancouver", "BC", "604"), ("Montreal", "QC", "514"),
    )),
    Country("GB", "UK", "en_GB", 12, "co.uk", "en", (
        ("London", "", ""), ("Manchester", "", ""), ("Edinburgh", "", ""), ("Bristol", "", ""),
    )),
    Country("DE", "Germany", "de_DE", 10, "de", "de", (
        ("Berlin", "", ""), ("Munich", "", ""), ("Hamburg", "", ""), ("Cologne", "", ""),
    )),
    Country("FR", "France", "fr_FR", 7, "fr", "fr", (
        ("Paris", "", ""), ("Lyon", "", ""), ("Toulouse", "", ""),
    )),
    Country("NL", "Netherlands", "nl_NL", 4, "nl", "nl", (("Amsterdam", "", ""), ("Rotterdam", "", ""))),
    Country("ES", "Spain", "es_ES", 4, "es", "es", (("Madrid", "", ""), ("Barcelona", "", ""))),
    Country("SE", "Sweden", "sv_SE", 3, "se", "sv", (("Stockholm", "", ""), ("Gothenburg", "", ""))),
    Country("AU", "Australia", "en_AU", 5, "com.au", "en", (("Sydney", "NSW", ""), ("Melbourne", "VIC", ""))),
    Country("IN", "India", "en_IN", 4, "in", "en", (
        ("Bengaluru", "", ""), ("Mumbai", "", ""), ("Pune", "", ""),
    )),
    Country("BR", "Brazil", "pt_BR", 5, "com.br", "pt-br", (
        ("São Paulo", "", ""), ("Rio de Janeiro", "", ""),
    )),
]  # fmt: skip
EMEA = {"GB", "DE", "FR", "NL", "ES", "SE"}

INDUSTRIES = [
    "Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education",
    "Professional Services", "Logistics", "Real Estate", "Media", "Telecommunications", "Energy",
]  # fmt: skip
# company size, weight, annual revenue range
SIZES = [
    ("1-10", 14, (200_000, 2_000_000)),
    ("11-50", 24, (1_000_000, 10_000_000)),
    ("51-200", 26, (5_000_000, 40_000_000)),
    ("201-500", 16, (20_000_000, 120_000_000)),
    ("501-1000", 9, (60_000_000, 300_000_000)),
    ("1001-5000", 7, (200_000_000, 1_500_000_000)),
    ("5000+", 4, (1_000_000_000, 20_000_000_000)),
]
ENTERPRISE_SIZES = {"1001-5000", "5000+"}
TITLES = [
    ("CEO", 5), ("Founder", 4), ("CMO", 3), ("VP Marketing", 6), ("VP Sales", 5), ("Head of Growth", 5),
    ("Director of Demand Generation", 5), ("Marketing Manager", 12), ("Marketing Operations Manager", 8),
    ("RevOps Lead", 6), ("Sales Operations Manager", 7), ("Head of Sales", 4), ("Account Executive", 5),
    ("Marketing Coordinator", 6), ("Consultant", 4), ("Software Engineer", 3), ("Intern", 2), ("Student", 2),
]  # fmt: skip
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "gmx.de", "proton.me"]
LEGAL_WORDS = {
    "inc", "llc", "ltd", "plc", "group", "gmbh", "ag", "kg", "kgaa", "co", "and", "und", "et", "y", "e", "sa",
    "sas", "sarl", "s", "a", "coop", "bv", "nv", "hb", "ab", "stichting", "the", "sons", "cie", "mbh", "ohg",
    "asociados", "consultoria", "ltda", "pvt", "limited", "corp", "corporation", "partners", "mit", "v",
}  # fmt: skip
PAGES = [
    ("/", "Home"), ("/pricing", "Pricing"), ("/features/lead-scoring", "Lead scoring"),
    ("/features/routing", "Lead routing"), ("/integrations", "Integrations"),
    ("/customers", "Customer stories"), ("/blog/speed-to-lead", "Why speed to lead matters"),
    ("/blog/lead-scoring-models", "Lead scoring models"), ("/docs/api", "API documentation"),
    ("/demo", "Book a demo"),
]  # fmt: skip

EXECUTIVE_WORDS = ("CEO", "Founder", "CMO", "VP", "Head of", "Director")
# The demo's scoring rules: name, kind, condition, points, options.
SCORING_RULES: list[tuple[str, str, dict[str, Any], int, dict[str, Any]]] = [
    ("Executive title", "fit",
     {"any": [{"field": "job_title", "op": "contains", "value": w} for w in EXECUTIVE_WORDS]}, 25, {}),
    ("Mid-market or larger", "fit",
     {"field": "company_size", "op": "in", "value": ["201-500", "501-1000", "1001-5000", "5000+"]}, 15, {}),
    ("Target industry", "fit",
     {"field": "industry", "op": "in", "value": ["Software", "Financial Services", "Professional Services"]},
     10, {}),
    ("Budget of $20k or more", "fit", {"field": "budget", "op": "in", "value": ["$20k-$50k", "$50k+"]},
     10, {}),
    ("Student or intern", "fit",
     {"any": [{"field": "job_title", "op": "contains", "value": w} for w in ("Intern", "Student")]}, -20, {}),
    ("Visited the pricing page", "engagement", {"field": "path", "op": "eq", "value": "/pricing"}, 10,
     {"repeatable": True, "cap": 30, "decay": "half_life", "decay_days": 30}),
    ("Opened the demo page", "engagement", {"field": "path", "op": "eq", "value": "/demo"}, 20,
     {"decay": "window", "decay_days": 60}),
    ("Read the blog", "engagement", {"field": "path", "op": "contains", "value": "/blog/"}, 3,
     {"repeatable": True, "cap": 9, "decay": "window", "decay_days": 30}),
]  # fmt: skip

# Final stage weights by how long ago the lead arrived: (younger than days, weights in STAGE_ORDER).
STAGE_ORDER = [
    Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.RECYCLED,
    Stage.DISQUALIFIED,
]  # fmt: skip
STAGE_WEIGHTS = [
    (3, [6, 80, 10, 2, 0, 0, 0, 2]),
    (14, [8, 40, 24, 12, 5, 0, 3, 8]),
    (DAYS + 1, [8, 18, 18, 14, 11, 10, 11, 10]),
]
RECYCLE_REASONS = [
    "No budget until the next fiscal year.",
    "Went quiet after the demo; try again next quarter.",
    "Staying with their current tool for now.",
    "Re-evaluating in six months after a reorg.",
]
DISQUALIFY_REASONS = [
    "Student researching a thesis.",
    "Competitor looking at our pricing.",
    "Fake contact details.",
    "Company too small for any of our plans.",
    "Outside the regions we sell to.",
]


@dataclass(eq=False)
class _Company:
    name: str
    domain: str
    industry: str
    size: str
    revenue: int


@dataclass(eq=False)
class _Person:
    index: int
    country: Country
    source: str
    team: str
    age_days: float
    stage: str
    payload: dict[str, Any]
    rng: random.Random
    lead: Lead | None = None


def demo_load(*, leads: int, seed: int) -> DemoSummary:
    """Loads the demo organisation and `leads` leads into a database that has no leads or teams yet."""
    if leads < 1:
        raise DemoError("Load at least one lead.")
    if Lead.objects.exists():
        raise DemoError("The database already has leads; the demo loads only into an empty one.")
    if Team.objects.exists():
        raise DemoError("The database already has teams; the demo loads only into a fresh installation.")
    taken = sorted(User.objects.filter(username__in=[u[0] for u in USERS]).values_list("username", flat=True))
    if taken:
        raise DemoError(f"Users the demo creates already exist: {', '.join(taken)}.")
    clashing = sorted(Source.objects.filter(name__in=[s[0] for s in SOURCES]).values_list("name", flat=True))
    if clashing:
        raise DemoError(f"Sources the demo creates already exist: {', '.join(clashing)}.")
    with transaction.atomic():
        return _Demo(seed=seed).load(leads)


class _Demo:
    def __init__(self, *, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.fakers: dict[str, Faker] = {}
        for offset, country in enumerate(COUNTRIES):
            self.fakers[country.code] = Faker(country.locale)
            self.fakers[country.code].seed_instance(seed * 100 + offset)
        self.users: dict[str, User] = {}
        self.users_by_id: dict[int, User] = {}
        self.teams: dict[str, Team] = {}
        self.sources: dict[str, Source] = {}
        self.companies: dict[str, list[_Company]] = {}
        self.domains: set[str] = set()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.arrived_by = self.now  # set after the first captures: earlier times are the arrival itself

    def load(self, count: int) -> DemoSummary:
        self._organisation()
        people = [self._person(index) for index in range(count)]
        submissions = self._capture(people)
        for person in people:
            self._work(person)
        self._backdate(people)
        self._page_views(people)
        latest = (
            Activity.objects.filter(lead=OuterRef("pk"))
            .order_by()
            .values("lead")
            .annotate(at=Max("occurred_at"))
            .values("at")
        )
        Lead.objects.update(last_activity_at=Subquery(latest), updated_at=Subquery(latest))
        self._scoring()
        by_stage = dict(Lead.objects.order_by().values_list("stage").annotate(n=Count("id")))
        return DemoSummary(
            seed=self.seed,
            users=[DemoUser(u[0], u[0], u[3], u[5]) for u in USERS],
            teams=TEAMS,
            default_team=TEAMS[0],
            sources=[(s[0], s[2]) for s in SOURCES],
            campaigns=[(c[0], c[3]) for c in CAMPAIGNS],
            leads_by_stage={stage: by_stage.get(stage, 0) for stage in STAGE_ORDER},
            submissions=Submission.objects.count(),
            updates=submissions["updated"],
            quarantined=submissions["quarantined"],
        )

    # ---------------------------------------------------------------------------------------------
    # People, teams, sources, campaigns

    def _organisation(self) -> None:
        for username, first, last, role, tz, _ in USERS:
            user = user_create(
                username=username,
                password=username,
                role=role,
                email=f"{username}@leadflow-demo.example.com",
                first_name=first,
                last_name=last,
                timezone=tz,
            )
            self.users[username] = self.users_by_id.setdefault(user.pk, user)
        for index, name in enumerate(TEAMS):
            self.teams[name] = team_create(name=name, manager=self.users["manager"], is_default=index == 0)
        for username, *_, teams in USERS:
            for name in teams:
                team_member_add(team=self.teams[name], user=self.users[username])
        for name, channel, cost, _ in SOURCES:
            self.sources[name] = Source.objects.create(name=name, channel=channel, cost=cost)
        today = self.now.date()
        Campaign.objects.bulk_create(
            Campaign(
                name=name,
                utm_campaign=utm,
                source=self.sources[source],
                cost=cost,
                starts_on=today - timedelta(days=started),
                ends_on=None if ran is None else today - timedelta(days=started - ran),
            )
            for name, utm, source, cost, started, ran in CAMPAIGNS
        )

    def _person(self, index: int) -> _Person:
        rng = self.rng
        country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
        fake = self.fakers[country.code]
        source = rng.choices(SOURCES, weights=[s[3] for s in SOURCES])[0][0]
        age = DAYS * rng.random() ** 1.3
        if source == "Webinar":
            age = rng.choice([62.0, 21.0]) - rng.uniform(0.1, 1.5)
        elif source == "Trade show import":
            age = 43 - rng.uniform(0, 1)
        company = self._company(country, fake)
        first, last = fake.first_name(), fake.last_name()
        title = rng.choices([t[0] for t in TITLES], weights=[t[1] for t in TITLES])[0]
        city, region, area = rng.choice(country.cities)
        free_mail = rng.random() < 0.15 or title == "Student"
        email = self._email(first, last, rng.choice(FREE_MAIL) if free_mail else company.domain)
        payload: dict[str, Any] = {
            "first_name": first.upper() if rng.random() < 0.03 else first,
            "last_name": last,
            "email": email.upper() if rng.random() < 0.02 else email,
            "job_title": title,
            "country": rng.choice([country.name, country.code, country.name.upper()]),
            "city": city,
            "language": country.language,
        }
        if region:
            payload["region"] = region
        if not free_mail or rng.random() < 0.6:
            payload |= {"company": company.name, "industry": company.industry, "company_size": company.size}
            payload["annual_revenue"] = _revenue_text(company.revenue, rng)
            if rng.random() < 0.4:
                payload["website"] = f"https://www.{company.domain}/"
        if rng.random() < (0.98 if source in {"Meta Lead Ads", "Trade show import"} else 0.75):
            payload["phone"] = self._phone(country, area)
        if rng.random() < 0.5:
            payload["purchase_timeframe"] = rng.choice(
                ["This quarter", "Next quarter", "This year", "Researching"]
            )
            payload["budget"] = rng.choice(["< $5k", "$5k-$20k", "$20k-$50k", "$50k+"])
        if rng.random() < 0.6:
            payload["product_interest"] = rng.choice(
                ["Lead capture", "Scoring", "Routing", "Analytics", "Platform"]
            )
        payload |= self._attribution(source, age, index)
        team = (
            "EMEA"
            if country.code in EMEA
            else "Enterprise"
            if company.size in ENTERPRISE_SIZES
            else "Inbound"
        )
        weights = next(w for younger, w in STAGE_WEIGHTS if age < younger)
        stage = rng.choices(STAGE_ORDER, weights=weights)[0]
        if title == "Student" or (title == "Intern" and rng.random() < 0.6):
            stage = Stage.DISQUALIFIED
        return _Person(
            index, country, source, team, age, stage, payload, random.Random(f"{self.seed}:{index}")
        )

    def _company(self, country: Country, fake: Faker) -> _Company:
        pool = self.companies.setdefault(country.code, [])
        if pool and self.rng.random() < 0.3:
            return self.rng.choice(pool)
        name = fake.company()
        words = [w for w in re.findall(r"[a-z0-9]+", _ascii(name).lower()) if w not in LEGAL_WORDS][:2]
        stem = "".join(words) or "company"
        domain, n = f"{stem}.{country.tld}", 1
        while domain in self.domains:
            n += 1
            domain = f"{stem}{n}.{country.tld}"
        self.domains.add(domain)
        size, _, (low, high) = self.rng.choices(SIZES, weights=[s[1] for s in SIZES])[0]
        company = _Company(name, domain, self.rng.choice(INDUSTRIES), size, self.rng.randint(low, high))
        pool.append(company)
        return company

    def _email(self, first: str, last: str, domain: str) -> str:
        first_part, last_part = (re.sub(r"[^a-z]", "", _ascii(n).lower()) or "contact" for n in (first, last))
        local = self.rng.choice([f"{first_part}.{last_part}", f"{first_part[0]}{last_part}", first_part])
        email, n = f"{local}@{domain}", 1
        while email in self.emails:
            n += 1
            email = f"{first_part}.{last_part}{n}@{domain}"
        self.emails.add(email)
        return email

    def _phone(self, country: Country, area: str) -> str:
        """A valid number of the country, written the way people type it."""
        example = phonenumbers.example_number_for_type(country.code, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None
        while True:
            if area:
                national = f"{area}{self.rng.randint(2, 9)}{self.rng.randint(0, 999999):06d}"
            else:
                national = str(example.national_number)[:-6] + f"{self.rng.randint(0, 999999):06d}"
            number = phonenumbers.parse(national, country.code)
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                if e164 not in self.phones:
                    self.phones.add(e164)
                    style = self.rng.choice(
                        [
                            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                            phonenumbers.PhoneNumberFormat.NATIONAL,
                        ]
                    )
                    return phonenumbers.format_number(number, style)

    def _attribution(self, source: str, age: float, index: int) -> dict[str, Any]:
        rng = self.rng
        page, _ = rng.choice(PAGES)
        if source == "Google Ads":
            campaign = rng.choice(["brand-search", "competitor-search"])
            term = rng.choice(
                ["lead management software", "lead routing", "lead scoring tool", "crm for leads"]
            )
            return {
                "utm_source": "google", "utm_medium": "cpc", "utm_campaign": campaign, "utm_term": term,
                "gclid": f"Cj0KCQ{rng.getrandbits(64):016x}", "landing_page": f"{SITE}/pricing",
            }  # fmt: skip
        if source == "Meta Lead Ads":
            return {
                "utm_source": rng.choice(["facebook", "instagram"]), "utm_medium": "paid_social",
                "utm_campaign": rng.choice(["retargeting-pricing", "lookalike-saas"]),
                "fbclid": f"IwAR{rng.getrandbits(64):016x}", "external_id": f"leadgen-{900000 + index}",
            }  # fmt: skip
        if source == "Webinar":
            campaign = "webinar-speed-to-lead" if age > 40 else "webinar-lead-scoring"
            return {"utm_source": "webinar", "utm_medium": "event", "utm_campaign": campaign}
        if source == "Trade show import":
            return {"utm_source": "revops-summit", "utm_medium": "event", "utm_campaign": "revops-summit"}
        if source == "Referral":
            return {
                "utm_source": "referral",
                "utm_medium": "partner",
                "referrer": "https://partners.example.org/",
            }
        if source == "Partner API":
            return {
                "attribution": {
                    "utm_source": "partner-api",
                    "utm_medium": "partner",
                    "utm_content": "crm-sync",
                },
                "external_id": f"P-{rng.randint(100000, 999999)}-{index}",
            }
        referrer = rng.choice(
            ["https://www.google.com/", "https://www.linkedin.com/", "https://www.bing.com/", ""]
        )
        consent = rng.random() < 0.8
        return {
            "referrer": referrer,
            "landing_page": f"{SITE}{page}",
            "consent": {
                "email": {
                    "granted": consent,
                    "text": "Send me product news and tips by email.",
                    "method": "form",
                }
            },
        }

    # ---------------------------------------------------------------------------------------------
    # Capture

    def _capture(self, people: list[_Person]) -> dict[str, int]:
        """Each source's leads through the intake flow; each region's while its team is the default.

        Routing sends new leads round robin to the default team (there are no routing rules yet),
        so pointing the default at a team while capturing its leads gives every team real owners.
        """
        result = {"updated": 0, "quarantined": 0}
        first_submission: dict[int, int] = {}
        for team in TEAMS:
            self._default_team(team)
            for source, *_ in SOURCES:
                group = [p for p in people if p.source == source and p.team == team]
                if group:
                    ids = self._bulk(source, [p.payload for p in group], result)
                    first_submission.update(zip(ids, (p.index for p in group), strict=True))
        self._default_team(TEAMS[0])
        self.arrived_by = timezone.now()
        again = [p for p in people if p.age_days > 2 and p.rng.random() < 0.07]
        if again:
            self._bulk("Website form", [self._resubmission(p) for p in again], result)
        bad = [
            {"first_name": "Test", "email": "test@@example", "company": "asdf"},
            {"first_name": "Jo", "phone": "12", "country": "Neverland"},
            {"company": "No contact details Ltd", "job_title": "Manager"},
        ]
        self._bulk("Website form", [bad[i % len(bad)] for i in range(max(1, len(people) // 250))], result)
        leads = Lead.objects.in_bulk(
            Submission.objects.filter(pk__in=first_submission).values_list("lead_id", flat=True)
        )
        for submission_id, lead_id in Submission.objects.filter(pk__in=first_submission).values_list(
            "pk", "lead_id"
        ):
            people[first_submission[submission_id]].lead = leads[lead_id]
        return result

    def _default_team(self, name: str) -> None:
        Team.objects.filter(is_default=True).exclude(name=name).update(is_default=False)
        Team.objects.filter(name=name).update(is_default=True)

    def _bulk(self, source_name: str, payloads: list[dict[str, Any]], result: dict[str, int]) -> list[int]:
        source = self.sources[source_name]
        actors: dict[str, User] = {
            Channel.IMPORT: self.users["marketing"],
            Channel.MANUAL: self.users["manager"],
        }
        actor = actors.get(source.channel)
        bulk = leads_capture_bulk(payloads=payloads, channel=source.channel, source=source, actor=actor)
        result["updated"] += bulk.updated
        result["quarantined"] += bulk.quarantined
        return bulk.submission_ids

    def _resubmission(self, person: _Person) -> dict[str, Any]:
        """The same person again (matched by email) asking for a demo, with a new title and maybe a phone."""
        keep = ("first_name", "last_name", "email", "company", "country", "city")
        payload = {k: person.payload[k] for k in keep if k in person.payload}
        payload["job_title"] = person.rng.choice(["Head of Marketing", "VP Marketing", "Director of RevOps"])
        if "phone" not in person.payload:
            area = next(a for city, _, a in person.country.cities if city == person.payload["city"])
            payload["phone"] = self._phone(person.country, area)
        return payload | {"landing_page": f"{SITE}/demo", "referrer": "https://www.google.com/"}

    # ---------------------------------------------------------------------------------------------
    # Working the leads

    def _work(self, person: _Person) -> None:
        """Calls, emails, meetings, notes and stage/status changes that lead to the person's final stage."""
        lead = person.lead
        assert lead is not None
        rng = person.rng
        owner = self.users_by_id.get(lead.owner_id or 0, self.users["olivia"])
        marketing, manager = self.users["marketing"], self.users["manager"]
        name = lead.first_name or "them"
        company = lead.company or "their team"

        def call(connected: bool) -> None:
            minutes = rng.randint(4, 35) if connected else 0
            activity_create(
                lead=lead,
                kind=ActivityKind.CALL,
                summary=f"Call: connected ({minutes} min)" if connected else "Call: no answer, voicemail",
                payload={
                    "direction": "outbound",
                    "outcome": "connected" if connected else "no_answer",
                    "duration_seconds": minutes * 60,
                },
                actor=owner,
            )

        def email(subject: str) -> None:
            activity_create(
                lead=lead, kind=ActivityKind.EMAIL, summary=f"Email: {subject}",
                payload={"direction": "outbound", "subject": subject}, actor=owner,
            )  # fmt: skip

        def meeting(title: str) -> None:
            minutes = rng.choice([30, 45, 60])
            activity_create(
                lead=lead, kind=ActivityKind.MEETING, summary=f"Meeting: {title} ({minutes} min)",
                payload={"title": title, "duration_minutes": minutes}, actor=owner,
            )  # fmt: skip

        def stage(to: str, actor: User, reason: str = "") -> None:
            lead_stage_change(lead=lead, stage=to, reason=reason, actor=actor)

        def status(to: str, actor: User, reason: str = "") -> None:
            lead_status_change(lead=lead, status=to, reason=reason, actor=actor)

        def reach_out() -> None:
            email(f"Quick question about {company}'s lead process")
            if rng.random() < 0.6:
                call(connected=False)
            status(Status.ATTEMPTING, owner)

        def connect() -> None:
            call(connected=True)
            status(Status.CONNECTED, owner)
            volume = rng.choice([200, 500, 1500, 4000])
            pain = rng.choice([
                "routing is done by hand in a spreadsheet",
                "reps call back after a day or more",
                "nobody trusts the current lead scores",
                "duplicates from three form tools",
            ])  # fmt: skip
            note_add(lead=lead, body=f"Spoke with {name}: about {volume} leads a month; {pain}.", actor=owner)

        target = person.stage
        if target == Stage.SUBSCRIBER:
            stage(
                Stage.SUBSCRIBER, marketing, "Newsletter signup only; nurture until there is buying intent."
            )
            status(Status.NURTURING, marketing)
            return
        if target == Stage.LEAD:
            if rng.random() < 0.5:
                reach_out()
                if rng.random() < 0.4:
                    connect()
            return
        if target == Stage.DISQUALIFIED:
            reason = rng.choice(DISQUALIFY_REASONS)
            if lead.job_title in {"Student", "Intern"}:
                reason = DISQUALIFY_REASONS[0]
            if rng.random() < 0.5:
                reach_out()
            else:
                call(connected=True)
            stage(Stage.DISQUALIFIED, owner, reason)
            status(Status.UNQUALIFIED, owner, reason)
            return
        stage(Stage.MQL, marketing)
        reach_out()
        if target == Stage.MQL:
            if rng.random() < 0.3:
                connect()
            return
        connect()
        if target == Stage.RECYCLED:
            if rng.random() < 0.5:
                stage(Stage.SQL, owner)
                meeting("Discovery call")
            reason = rng.choice(RECYCLE_REASONS)
            stage(Stage.RECYCLED, owner, reason)
            status(Status.NURTURING, owner, reason)
            return
        meeting("Discovery call")
        stage(Stage.SQL, owner)
        if target == Stage.SQL:
            return
        meeting("Product demo")
        stage(Stage.OPPORTUNITY, owner)
        seats = rng.choice([5, 10, 25, 50, 120])
        note_add(lead=lead, body=f"Proposal sent: {seats} seats, annual plan.", actor=owner)
        if rng.random() < 0.4:
            note_add(
                lead=lead,
                body="Ask for a multi-year term; they mentioned a budget freeze in Q4.",
                actor=manager,
            )
        if target == Stage.OPPORTUNITY:
            return
        meeting("Contract review")
        stage(Stage.CUSTOMER, owner)
        status(Status.CONVERTED, owner)
        note_add(lead=lead, body=f"Closed won: {seats} seats. Handing over to onboarding.", actor=owner)

    # ---------------------------------------------------------------------------------------------
    # Time

    def _backdate(self, people: list[_Person]) -> None:
        """Moves every lead's history into the last 90 days, keeping the order of its events.

        A lead's arrival (everything its first capture wrote) and each later distinct event time of
        its timeline become the arrival time plus random gaps. Every stored time of the lead is then
        mapped to the new time of its latest event not after it.
        """
        by_lead = {p.lead.pk: p for p in people if p.lead is not None}
        old_times: dict[int, list[datetime]] = {}
        for lead_id, at in Activity.objects.order_by("lead_id", "occurred_at").values_list(
            "lead_id", "occurred_at"
        ):
            times = old_times.setdefault(lead_id, [])
            if not times or (at > self.arrived_by and times[-1] != at):
                times.append(at)
        new_times = {
            lead_id: self._schedule(by_lead[lead_id], len(times)) for lead_id, times in old_times.items()
        }

        def remap(lead_id: int, at: datetime | None) -> datetime | None:
            if at is None:
                return None
            index = bisect_right(old_times[lead_id], at) - 1
            return new_times[lead_id][max(index, 0)]

        def rewrite(model: Any, fields: Sequence[str]) -> None:
            objs = list(model.objects.filter(lead__isnull=False).only("pk", "lead_id", *fields))
            for obj in objs:
                for name in fields:
                    setattr(obj, name, remap(obj.lead_id, getattr(obj, name)))
            bulk_update_fast(objs, fields)

        milestones = ["assigned_at", "first_response_at", "qualified_at", "converted_at"]
        leads = list(Lead.objects.only("pk", *milestones))
        first_response: dict[int, datetime | None] = {}
        for lead in leads:
            for name in milestones:
                setattr(lead, name, remap(lead.pk, getattr(lead, name)))
            lead.created_at = new_times[lead.pk][0]
            first_response[lead.pk] = lead.first_response_at
        bulk_update_fast(leads, ["created_at", *milestones])

        tasks = list(Task.objects.only("pk", "lead_id", "created_at", "due_at"))
        for task in tasks:
            window = task.due_at - task.created_at
            task.created_at = remap(task.lead_id, task.created_at) or task.created_at
            task.due_at = task.created_at + window
            task.done_at = first_response[task.lead_id]
        bulk_update_fast(tasks, ["created_at", "due_at", "done_at"])

        rewrite(Activity, ["occurred_at"])
        rewrite(StageTransition, ["occurred_at"])
        rewrite(Touch, ["occurred_at"])
        rewrite(LeadIdentity, ["created_at"])
        rewrite(Consent, ["recorded_at"])
        rewrite(Submission, ["received_at", "processed_at"])

    def _schedule(self, person: _Person, count: int) -> list[datetime]:
        """`count` increasing times: the arrival, then gaps of minutes, hours or days that end before now."""
        rng = random.Random(f"{self.seed}:{person.index}:time")
        start = self.now - timedelta(days=person.age_days)
        gaps = []
        for step in range(count - 1):
            kind = rng.random() * (0.8 if step == 0 else 1)  # the first response mostly comes soon
            hours = (
                rng.uniform(0.05, 1.5)
                if kind < 0.4
                else rng.uniform(2, 30)
                if kind < 0.75
                else rng.uniform(24, 240)
            )
            gaps.append(timedelta(hours=hours))
        room = (self.now - start) * 0.95
        total = sum(gaps, timedelta())
        scale = min(1.0, room / total) if total else 1.0
        times = [start]
        for gap in gaps:
            times.append(times[-1] + gap * scale)
        return times

    def _page_views(self, people: list[_Person]) -> None:
        """Visits to the website between the lead's arrival and now, more for engaged leads."""
        engaged: dict[str, int] = {
            Stage.MQL: 2,
            Stage.SQL: 3,
            Stage.OPPORTUNITY: 4,
            Stage.CUSTOMER: 4,
            Stage.RECYCLED: 2,
        }
        arrivals = dict(Lead.objects.values_list("pk", "created_at"))
        views = []
        for person in people:
            assert person.lead is not None
            rng = random.Random(f"{self.seed}:{person.index}:views")
            start = arrivals[person.lead.pk]
            span = (self.now - start).total_seconds()
            for _ in range(rng.randint(0, 2) + engaged.get(person.stage, 0)):
                path, title = rng.choice(PAGES)
                views.append(
                    Activity(
                        lead=person.lead,
                        kind=ActivityKind.PAGE_VIEW,
                        summary=f"Viewed {SITE}{path}",
                        payload={
                            "event": "page_view",
                            "properties": {"url": f"{SITE}{path}", "title": title},
                        },
                        occurred_at=start + timedelta(seconds=rng.uniform(0, span)),
                    )
                )
        Activity.objects.bulk_create(views, batch_size=1000)

    def _scoring(self) -> None:
        """The demo's scoring rules, with every page view replayed through them in time order (so the
        ledger, decay and score history are as if the rules had always been there), then fit applied."""
        admin = self.users["admin"]
        for name, kind, condition, points, options in SCORING_RULES:
            rule_create(
                values={"name": name, "kind": kind, "condition": condition, "points": points, **options},
                actor=admin,
            )
        with config_snapshot():
            views = Activity.objects.filter(kind=ActivityKind.PAGE_VIEW).select_related("lead")
            for view in views.order_by("occurred_at", "id"):
                activity_score(lead=view.lead, activity=view, now=view.occurred_at)
        # One full rescore instead of the one per rule that rule_create queued for the worker.
        RescoreRun.objects.filter(status=RescoreStatus.QUEUED).update(
            status=RescoreStatus.DONE, finished_at=timezone.now()
        )
        run = RescoreRun.objects.create(reason="Demo data: the demo's scoring rules", scope=None, actor=admin)
        rescore_execute(run_id=run.pk)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _revenue_text(amount: int, rng: random.Random) -> str:
    """Annual revenue the way forms receive it: '12500000', '$12,500,000' or '12.5M'."""
    style = rng.random()
    if style < 0.4:
        return str(amount)
    if style < 0.7:
        return f"${amount:,}"
    return f"{amount / 1_000_000:.1f}M"
