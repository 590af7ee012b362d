"""`leadflow demo`: deterministic, realistic demo data captured through the intake flow."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, F, Q
from django.test import override_settings
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.capture.demo import DemoError, demo_load
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.leads.models import (
    Activity,
    ActivityKind,
    Campaign,
    Lead,
    Source,
    Stage,
    StageTransition,
    Status,
    Task,
    Touch,
)
from leadflow.leads.services import is_backward
from leadflow.scoring.models import ScorePoints, ScoringRule

Run = Callable[..., str]


def snapshot() -> list[tuple[Any, ...]]:
    leads = Lead.objects.order_by("email_normalized").values_list(
        "email_normalized", "phone_e164", "company", "country", "stage", "status", "owner__username",
        "team__name", "source__name",
    )  # fmt: skip
    timelines = Activity.objects.values_list("lead__email_normalized", "kind", "actor__username", "summary")
    return [*leads, *sorted(timelines, key=str)]


def load_and_roll_back(*, leads: int, seed: int) -> list[tuple[Any, ...]]:
    with transaction.atomic():
        demo_load(leads=leads, seed=seed)
        rows = snapshot()
        transaction.set_rollback(True)
    return rows


def test_same_seed_same_data(db: None) -> None:
    first = load_and_roll_back(leads=80, seed=7)
    assert not Lead.objects.exists() and not User.objects.exists()

    again = load_and_roll_back(leads=80, seed=7)
    other = load_and_roll_back(leads=80, seed=8)

    assert len([row for row in first if len(row) == 9]) == 80
    assert again == first
    assert {row[0] for row in other} != {row[0] for row in first}


@pytest.fixture(scope="class")
def demo(django_db_setup: None, django_db_blocker: Any) -> Any:
    """One demo load shared by a class of read-only tests; rolled back after them."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        transaction.atomic(),
    ):
        yield demo_load(leads=300, seed=42)
        transaction.set_rollback(True)


@pytest.fixture
def loaded(demo: Any, db: None) -> Any:
    return demo


class TestLoadedDemo:
    """Read-only checks of one 300-lead demo load."""

    def test_leads_cover_every_stage_and_status(self, loaded: Any) -> None:
        stages = dict(Lead.objects.values_list("stage").annotate(n=Count("id")))
        statuses = dict(Lead.objects.values_list("status").annotate(n=Count("id")))

        assert set(stages) == set(Stage.values) and all(n >= 5 for n in stages.values())
        assert set(statuses) == set(Status.values)
        assert loaded.leads_by_stage == {stage: stages[stage] for stage in loaded.leads_by_stage}
        assert sum(stages.values()) == 300
        assert Lead.objects.filter(stage=Stage.CUSTOMER).exclude(status=Status.CONVERTED).count() == 0
        assert Lead.objects.filter(stage=Stage.DISQUALIFIED).exclude(status=Status.UNQUALIFIED).count() == 0

    def test_leads_arrived_through_the_intake_flow(self, loaded: Any) -> None:
        assert not Lead.objects.filter(submissions__isnull=True).exists()
        assert not Lead.objects.exclude(activities__kind=ActivityKind.CAPTURE).exists()
        assert not Lead.objects.filter(owner__isnull=True).exists()
        assert loaded.updates > 0 and Submission.objects.filter(outcome="updated").count() == loaded.updates
        assert (
            Submission.objects.filter(status=SubmissionStatus.QUARANTINED).count() == loaded.quarantined >= 1
        )
        # Every team works leads, with its own members as owners.
        for team in Team.objects.all():
            owners = set(Lead.objects.filter(team=team).values_list("owner_id", flat=True))
            assert owners and owners <= set(team.memberships.values_list("user_id", flat=True))
        assert Team.objects.get(is_default=True).name == "Inbound"

    def test_realistic_fields(self, loaded: Any) -> None:
        leads = Lead.objects.all()
        assert leads.filter(company_domain="").count() < leads.count() / 3  # mostly company emails
        assert leads.filter(email_normalized__endswith="@gmail.com").exists()
        assert leads.exclude(phone_e164="").count() > leads.count() / 2
        assert (
            leads.filter(phone_e164__startswith="+1").exists()
            and leads.filter(phone_e164__startswith="+49").exists()
        )
        assert leads.values("country").distinct().count() >= 8
        assert leads.filter(job_title="CEO").exists() and leads.exclude(annual_revenue=None).exists()
        assert leads.exclude(industry="").exists() and leads.exclude(company_size="").exists()
        assert leads.values("company").annotate(n=Count("id")).filter(n__gt=1).exclude(company="").exists()

    def test_sources_and_campaigns_with_costs_and_attribution(self, loaded: Any) -> None:
        assert Source.objects.count() == 7 and Source.objects.filter(cost__gt=0).count() == 6
        assert set(Lead.objects.values_list("source__name", flat=True)) == set(
            Source.objects.values_list("name", flat=True)
        )
        campaigns = Campaign.objects.all()
        assert campaigns.count() >= 5 and not campaigns.filter(cost=0).exists()
        touched = set(Touch.objects.exclude(utm_campaign="").values_list("utm_campaign", flat=True))
        assert touched == set(campaigns.values_list("utm_campaign", flat=True))
        assert Touch.objects.filter(source__name="Google Ads").exclude(gclid="").exists()

    def test_leads_are_scored_by_the_demo_rules(self, loaded: Any) -> None:
        assert ScoringRule.objects.filter(kind="fit").count() >= 4
        assert ScoringRule.objects.filter(kind="engagement").count() >= 3
        leads = Lead.objects.all()
        assert leads.filter(fit_score__gt=0).count() > leads.count() // 4
        assert leads.filter(fit_score__lt=0).exists()  # students and interns
        assert set(leads.values_list("grade", flat=True)) >= {"A", "D"}
        pricing = ScorePoints.objects.filter(rule__name="Visited the pricing page")
        assert pricing.exists()
        assert not leads.exclude(score=F("fit_score") + F("engagement_score")).exists()
        assert Activity.objects.filter(kind=ActivityKind.SCORE_CHANGE).exists()

    def test_timelines_spread_over_ninety_days_in_order(self, loaded: Any) -> None:
        now = timezone.now()
        created = Lead.objects.values_list("created_at", flat=True)
        assert min(created) < now - timedelta(days=60) and max(created) > now - timedelta(days=7)
        assert max(created) <= now and not Activity.objects.filter(occurred_at__gt=now).exists()
        assert not Activity.objects.filter(occurred_at__lt=F("lead__created_at")).exists()
        assert not Lead.objects.exclude(last_activity_at__gte=F("created_at")).exists()
        kinds = dict(Activity.objects.values_list("kind").annotate(n=Count("id")))
        for kind in (
            ActivityKind.NOTE,
            ActivityKind.CALL,
            ActivityKind.EMAIL,
            ActivityKind.MEETING,
            ActivityKind.PAGE_VIEW,
        ):
            assert kinds.get(kind, 0) > 20, kind
        # The stage history of each lead is in time order and ends at its stage; steps back have a reason.
        for lead in Lead.objects.exclude(stage=Stage.LEAD).prefetch_related("transitions")[:100]:
            stages = sorted(
                (t for t in lead.transitions.all() if t.field == "stage"), key=lambda t: t.occurred_at
            )
            assert stages[-1].to_value == lead.stage
            assert all(t.reason for t in stages if is_backward(t.from_value, t.to_value))
        assert not StageTransition.objects.filter(occurred_at__lt=F("lead__created_at")).exists()
        # Responded leads have their first-contact task done; the others' are still open.
        assert not Task.objects.filter(done_at__isnull=True, lead__first_response_at__isnull=False).exists()
        assert Task.objects.filter(done_at__isnull=True).exists()
        assert not Lead.objects.filter(
            Q(first_response_at__lt=F("created_at")) | Q(assigned_at__lt=F("created_at"))
        ).exists()


def test_demo_command_prints_the_summary(run: Run) -> None:
    out = run("demo", "--leads", "40", "--seed", "3")

    assert "admin      password admin" in out and "never use them in production" in out
    assert "Teams: Inbound (default), Enterprise, EMEA" in out
    assert "Google Ads (4,800.00)" in out
    assert "Leads: 40 from" in out and "Leads by stage: subscriber" in out
    assert User.objects.get(username="admin").check_password("admin")
    assert User.objects.get(username="admin").is_superuser


def test_demo_if_empty_skips_a_database_with_leads(run: Run) -> None:
    run("demo", "--leads", "10")

    assert (
        run("demo", "--leads", "10", "--if-empty").strip()
        == "Database already has leads; demo data not loaded."
    )
    with pytest.raises(CommandError, match="already has leads"):
        run("demo", "--leads", "10")
    assert Lead.objects.count() == 10


def test_demo_refuses_clashing_data(db: None) -> None:
    User.objects.create_user(username="manager")
    with pytest.raises(DemoError, match="already exist: manager"):
        demo_load(leads=5, seed=1)
    with pytest.raises(DemoError, match="at least one lead"):
        demo_load(leads=0, seed=1)
