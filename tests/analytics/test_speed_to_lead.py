"""Speed to lead per rep, team and source: percentiles and SLA compliance against hand-worked numbers."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.access.services import team_create
from leadflow.analytics.selectors import SpeedRow, period_last, speed_to_lead
from leadflow.leads.models import Lead, Source
from leadflow.leads.selectors import lead_visible
from leadflow.routing.models import ClockOutcome, ResponseClock

pytestmark = pytest.mark.django_db

START = timezone.now() - timedelta(hours=2)
MIN = timedelta(minutes=1)


def clock(
    owner: User,
    team: Team,
    source: Source | None,
    *,
    answer: timedelta | None,
    sla: int | None = 5,
    lead: Lead | None = None,
    start: timedelta = timedelta(),
    ended: timedelta | None = None,
    outcome: str = ClockOutcome.OPEN,
) -> Lead:
    """A response clock started START+`start`, its lead answered `answer` after START (None: never)."""
    lead = lead or Lead.objects.create(email=f"l{Lead.objects.count()}@x.io", source=source, owner=owner)
    if answer is not None:
        Lead.objects.filter(pk=lead.pk).update(first_response_at=START + answer)
    ResponseClock.objects.create(
        lead=lead,
        owner=owner,
        team=team,
        started_at=START + start,
        sla_minutes=sla,
        due_at=START + start + sla * MIN if sla else None,
        ended_at=START + ended if ended is not None else None,
        outcome=outcome,
    )
    return lead


def test_percentiles_and_compliance(make_user: Callable[..., User]) -> None:
    east, west = team_create(name="East"), team_create(name="West")
    ann, bob = make_user("ann", team=east, first_name="Ann"), make_user("bob", team=east, first_name="Bob")
    web, ads = Source.objects.create(name="Web"), Source.objects.create(name="Ads")
    for minutes in (1, 2, 3, 4, 10):  # Ann: median 3 min, p90 10 min (nearest rank), 4 of 5 in the SLA
        clock(ann, east, web, answer=minutes * MIN)
    clock(bob, east, ads, answer=None)  # unanswered, past its deadline: a breach
    clock(
        bob, east, ads, answer=None, ended=2 * MIN, outcome=ClockOutcome.ENDED
    )  # handed on early: not judged
    # Breached by Bob, reassigned to Ann at minute 5 who answers at minute 7 (2 min after her assignment).
    chain = clock(bob, west, ads, answer=7 * MIN, ended=5 * MIN, outcome=ClockOutcome.BREACHED)
    clock(ann, west, ads, answer=7 * MIN, lead=chain, start=5 * MIN)
    clock(ann, west, None, answer=30 * MIN, sla=None)  # no SLA: in the times, not in compliance

    admin = make_user("boss", role="admin")
    speed = speed_to_lead(visible=lead_visible(viewer=admin), period=period_last(days=1))

    def row(rows: list[SpeedRow], name: str) -> tuple[object, ...]:
        found = next(r for r in rows if r.name == name)
        return (found.assignments, found.responded, found.median, found.p90, found.sla_due, found.sla_met)

    assert row(speed.by_rep, "Ann") == (7, 7, 3 * MIN, 30 * MIN, 6, 5)
    assert row(speed.by_rep, "Bob") == (3, 0, None, None, 2, 0)
    assert row(speed.by_team, "East") == (7, 5, 3 * MIN, 10 * MIN, 6, 4)
    assert row(speed.by_team, "West") == (3, 2, 2 * MIN, 30 * MIN, 2, 1)
    assert row(speed.by_source, "Ads") == (4, 1, 2 * MIN, 2 * MIN, 3, 1)
    assert row(speed.by_source, "No source") == (1, 1, 30 * MIN, 30 * MIN, 0, 0)
    overall = speed.overall
    assert (overall.assignments, overall.responded, overall.median, overall.p90) == (10, 7, 3 * MIN, 30 * MIN)
    assert (overall.sla_due, overall.sla_met) == (8, 5) and overall.sla_compliance == 5 / 8


def test_a_rep_sees_only_their_own(make_user: Callable[..., User]) -> None:
    east = team_create(name="East")
    ann, bob = make_user("ann", team=east), make_user("bob", team=east)
    clock(ann, east, None, answer=MIN)
    clock(bob, east, None, answer=2 * MIN)
    speed = speed_to_lead(visible=lead_visible(viewer=ann), period=period_last(days=1))
    assert [(r.name, r.median) for r in speed.by_rep] == [("ann", MIN)]


def test_the_dashboard_shows_speed_to_lead(make_user: Callable[..., User], client: Client) -> None:
    east = team_create(name="East")
    ann = make_user("ann", team=east, first_name="Ann")
    for minutes in (1, 2, 9):
        clock(ann, east, None, answer=minutes * MIN)
    client.force_login(make_user("boss", role="admin"))
    page = client.get("/dashboard/").content.decode()
    table = page[page.index('id="speed-rep"') : page.index("</table>", page.index('id="speed-rep"'))]
    assert '<th scope="row">Ann</th>' in table and "2 min" in table and "9 min" in table
    assert '<span title="2 of 3">67 %</span>' in table
    assert "2 of 3 assignments with a deadline answered in time" in page
