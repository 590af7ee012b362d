"""The dashboard figures, each against numbers worked out by hand."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.access.services import team_create
from leadflow.analytics.selectors import Dashboard, dashboard, period_last
from leadflow.capture.services import lead_capture
from leadflow.leads.models import ActivityKind, Lead, Source, Stage
from leadflow.leads.services import activity_create, lead_stage_change
from leadflow.routing.services import lead_assign

pytestmark = pytest.mark.django_db

NOW = timezone.now()


class Leads:
    """Makes leads with a known source, stage, age and first-response delay."""

    def __init__(self, make_user: Callable[..., User]) -> None:
        self.team = team_create(name="East", is_default=True)
        self.rep = make_user("rep", team=self.team)
        self.count = 0

    def add(
        self,
        *,
        source: Source | None = None,
        stage: str = Stage.LEAD,
        age: timedelta = timedelta(hours=3),
        response: timedelta | None = None,
        assigned: bool = True,
        owner: User | None = None,
        team: Team | None = None,
    ) -> Lead:
        """A lead created and assigned `age` ago, first answered `response` after its assignment."""
        self.count += 1
        lead = lead_capture(payload={"email": f"lead{self.count}@example.com"}, source=source).lead
        assert lead is not None
        lead = lead_assign(lead=lead, owner=(owner or self.rep) if assigned else None, actor=None)
        if stage != lead.stage:
            lead_stage_change(lead=lead, stage=stage, actor=self.rep)
        created = NOW - age
        Lead.objects.filter(pk=lead.pk).update(
            created_at=created, assigned_at=created if lead.owner_id else None, team=team or self.team
        )
        lead.refresh_from_db()
        if response is not None:
            activity_create(lead=lead, kind=ActivityKind.CALL, actor=self.rep, occurred_at=created + response)
        return lead


@pytest.fixture
def leads(make_user: Callable[..., User]) -> Leads:
    return Leads(make_user)


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("boss", role="admin")


def figures(viewer: User, days: int = 30, now: datetime = NOW) -> Dashboard:
    return dashboard(viewer=viewer, period=period_last(days=days, now=now))


def test_leads_by_stage_count_leads_created_in_the_period(leads: Leads, admin: User) -> None:
    leads.add(stage=Stage.LEAD)
    leads.add(stage=Stage.MQL)
    leads.add(stage=Stage.MQL)
    leads.add(stage=Stage.CUSTOMER)
    leads.add(stage=Stage.LEAD, age=timedelta(days=40))

    by_stage = {row.stage: row.leads for row in figures(admin).by_stage}
    assert by_stage == dict.fromkeys(Stage.values, 0) | {"lead": 1, "mql": 2, "customer": 1}
    assert [row.stage for row in figures(admin).by_stage] == Stage.values, "every stage, in funnel order"
    assert {row.stage: row.leads for row in figures(admin, days=90).by_stage}["lead"] == 2


def test_leads_by_source_with_cost_per_lead_over_all_its_leads(leads: Leads, admin: User) -> None:
    ads = Source.objects.create(name="Ads", cost=Decimal("300"))
    webinar = Source.objects.create(name="Webinar", cost=Decimal("50"))
    for _ in range(2):
        leads.add(source=ads)
    leads.add(source=ads, age=timedelta(days=40))
    leads.add(source=webinar)
    leads.add(source=None)
    Source.objects.create(name="Unused", cost=Decimal("999"))

    rows = [
        (row.name, row.leads, row.leads_all_time, row.cost, row.cost_per_lead)
        for row in figures(admin).by_source
    ]
    assert rows == [
        ("Ads", 2, 3, Decimal("300"), Decimal("100.00")),
        ("Webinar", 1, 1, Decimal("50"), Decimal("50.00")),
        ("No source", 1, 1, None, None),
    ]


def test_a_manager_sees_source_counts_of_their_teams_without_cost(
    leads: Leads, make_user: Callable[..., User]
) -> None:
    ads = Source.objects.create(name="Ads", cost=Decimal("300"))
    west = team_create(name="West")
    manager = make_user("boss", role="manager")
    leads.team.manager = manager
    leads.team.save()
    leads.add(source=ads)
    leads.add(source=ads, team=west, owner=make_user("westrep", team=west))

    (row,) = figures(manager).by_source
    assert (row.name, row.leads, row.cost, row.cost_per_lead) == ("Ads", 1, None, None)


def test_response_times_over_leads_assigned_in_the_period(leads: Leads, admin: User) -> None:
    leads.add(response=timedelta(minutes=10))
    leads.add(response=timedelta(minutes=30))
    leads.add(response=timedelta(hours=2))
    leads.add(response=None)  # assigned, not answered yet
    leads.add(assigned=False, response=None)  # unassigned: no response clock
    leads.add(age=timedelta(days=40), response=timedelta(minutes=5))
    answered_then_reassigned = leads.add(response=timedelta(minutes=1))
    Lead.objects.filter(pk=answered_then_reassigned.pk).update(assigned_at=NOW - timedelta(minutes=30))

    last_30 = figures(admin).response
    # Durations 10 min, 30 min, 2 h: the median is the middle one; 2 of 4 assigned leads within the hour.
    assert (last_30.assigned, last_30.responded, last_30.within_hour) == (4, 3, 2)
    assert last_30.median == timedelta(minutes=30)
    assert last_30.within_hour_share == 0.5

    last_90 = figures(admin, days=90).response
    # 5 min, 10 min, 30 min, 2 h: an even count, so the median is halfway between 10 and 30 minutes.
    assert (last_90.assigned, last_90.responded, last_90.within_hour) == (5, 4, 3)
    assert last_90.median == timedelta(minutes=20)


def test_response_times_without_assigned_leads(leads: Leads, admin: User) -> None:
    leads.add(assigned=False)
    response = figures(admin).response
    assert (response.assigned, response.median, response.within_hour_share) == (0, None, None)


def test_new_leads_this_week_and_last_week_in_the_viewers_time_zone(leads: Leads, admin: User) -> None:
    wednesday = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
    for created in (
        datetime(2026, 3, 11, 10, 0, tzinfo=UTC),  # this week
        datetime(2026, 3, 9, 0, 30, tzinfo=UTC),  # Monday just after midnight: this week in UTC
        datetime(2026, 3, 8, 23, 30, tzinfo=UTC),  # Sunday night: last week
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC),  # last Monday at midnight: last week in UTC
        datetime(2026, 2, 28, 12, 0, tzinfo=UTC),  # two weeks ago
    ):
        leads.add(age=NOW - created)

    utc = figures(admin, days=90, now=wednesday)
    assert (utc.this_week, utc.last_week) == (2, 2)

    admin.timezone = "America/New_York"  # UTC-4 from 8 March 2026, UTC-5 before
    new_york = figures(admin, days=90, now=wednesday)
    assert (new_york.this_week, new_york.last_week) == (1, 2)


def test_unassigned_leads_and_quarantined_submissions(
    leads: Leads, admin: User, make_user: Callable[..., User]
) -> None:
    leads.add()
    leads.add(assigned=False)
    leads.add(assigned=False, age=timedelta(days=200))  # unassigned whatever its age
    lead_capture(payload={"email": "not-an-email"})
    manager = make_user("boss2", role="manager")
    leads.team.manager = manager
    leads.team.save()

    everything = figures(admin)
    assert (everything.total, everything.unassigned, everything.quarantined) == (3, 2, 1)
    assert everything.teams == []
    team_view = figures(manager)
    assert (team_view.unassigned, team_view.quarantined, team_view.teams) == (2, None, ["East"])
