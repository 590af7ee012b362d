"""First-response SLA: deadlines in working time, reminders, breach reassignment and escalation."""

import datetime as dt
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from leadflow.access.models import Team, User
from leadflow.leads.models import Activity, ActivityKind, Lead
from leadflow.leads.services import activity_create, lead_status_change
from leadflow.routing import engine
from leadflow.routing.models import BreachAction, ClockOutcome, Notification, ResponseClock
from leadflow.routing.services import (
    RoutingInputError,
    lead_assign,
    rep_schedule_set,
    sla_clock_check,
    sla_clock_remind,
    team_holiday_add,
    team_routing_update,
)
from leadflow.routing.sla import working_deadline
from tests.routing.conftest import MONDAY_10_UTC, OFFICE_HOURS, Route

MINUTE = dt.timedelta(minutes=1)
SCHEDULE = engine.parse_schedule(OFFICE_HOURS)


def test_deadline_counts_working_minutes_only() -> None:
    # Monday 16:58 in Berlin: 2 minutes today, 3 on Tuesday from 09:00.
    start = dt.datetime(2026, 11, 23, 15, 58, tzinfo=dt.UTC)
    due = working_deadline(start, 5, schedule=SCHEDULE, timezone="Europe/Berlin")
    assert due == dt.datetime(2026, 11, 24, 8, 3, tzinfo=dt.UTC)  # 09:03 in Berlin
    # A holiday on Tuesday and out of office on Wednesday push it to Thursday.
    due = working_deadline(
        start,
        5,
        schedule=SCHEDULE,
        timezone="Europe/Berlin",
        holidays={dt.date(2026, 11, 24)},
        away=[(dt.date(2026, 11, 25), dt.date(2026, 11, 25))],
    )
    assert due == dt.datetime(2026, 11, 26, 8, 3, tzinfo=dt.UTC)
    # Saturday: nothing before Monday 09:00.
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    assert working_deadline(saturday, 5, schedule=SCHEDULE, timezone="UTC") == dt.datetime(
        2026, 11, 30, 9, 5, tzinfo=dt.UTC
    )
    # No schedule: always working.
    assert working_deadline(saturday, 5, schedule=None) == saturday + 5 * MINUTE


@pytest.fixture
def sla_team(sales_team: Team, make_user: Any) -> Team:
    manager = make_user("boss", role="manager", first_name="Bea")
    sales_team.manager = manager
    sales_team.save()
    team_routing_update(team=sales_team, method="round_robin", sla_minutes=5, sla_reminder_minutes=2)
    return sales_team


def _lead(route: Route, now: dt.datetime = MONDAY_10_UTC) -> tuple[Lead, ResponseClock]:
    (lead_id,) = route({"email": f"lead{Lead.objects.count()}@acme.io", "company": "Acme"}, now=now)
    lead = Lead.objects.select_related("owner").get(pk=lead_id)
    return lead, ResponseClock.objects.get(lead=lead, outcome=ClockOutcome.OPEN)


def _sla_entries(lead: Lead) -> list[str]:
    return list(
        Activity.objects.filter(lead=lead, kind=ActivityKind.SLA)
        .order_by("id")
        .values_list("summary", flat=True)
    )


def test_assignment_starts_the_clock_and_notifies_the_owner(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route)
    assert lead.owner is not None and lead.owner.username == "rep1"
    assert (clock.owner_id, clock.team_id, clock.started_at) == (lead.owner_id, sla_team.pk, MONDAY_10_UTC)
    assert clock.due_at == MONDAY_10_UTC + 5 * MINUTE
    assert clock.remind_at == MONDAY_10_UTC + 3 * MINUTE
    note = Notification.objects.get(recipient=lead.owner)
    assert note.kind == "assignment" and note.lead_id == lead.pk
    assert "round robin" in note.body and "respond by Mon 23 Nov 10:05 UTC" in note.body
    assignment = Activity.objects.get(lead=lead, kind=ActivityKind.ASSIGNMENT)
    assert assignment.payload["sla_due_at"] == clock.due_at.isoformat()


def test_the_deadline_follows_the_owners_hours(sla_team: Team, route: Route) -> None:
    rep1 = User.objects.get(username="rep1")
    rep1.timezone = "Europe/Berlin"
    rep1.save()
    rep_schedule_set(user=rep1, hours={"mon": [["09:00", "11:02"]], "tue": [["09:00", "17:00"]]})
    team_holiday_add(team=sla_team, date=dt.date(2026, 11, 24))
    rep2 = User.objects.get(username="rep2")
    rep_schedule_set(user=rep2, hours={"sun": [["09:00", "10:00"]]})  # off on Monday: rep3 is next
    _, clock = _lead(route)
    assert clock.owner_id == rep1.pk
    # 11:00–11:02 on Monday, Tuesday is a holiday, Wednesday is not in the schedule: never.
    # Only Monday's two minutes exist this week, so the deadline is next Monday 09:03 Berlin.
    assert clock.due_at == dt.datetime(2026, 11, 30, 8, 3, tzinfo=dt.UTC)


def test_reminder_once_before_the_deadline(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route)
    assert sla_clock_remind(clock_id=clock.pk, now=MONDAY_10_UTC + MINUTE) is False  # too early
    assert sla_clock_remind(clock_id=clock.pk, now=MONDAY_10_UTC + 3 * MINUTE) is True
    assert sla_clock_remind(clock_id=clock.pk, now=MONDAY_10_UTC + 4 * MINUTE) is False  # once
    assert _sla_entries(lead) == [
        "Reminder sent to rep1: respond by Mon 23 Nov 10:05 UTC (about 2 min left)."
    ]
    reminder = Notification.objects.get(recipient=lead.owner, kind="reminder")
    assert reminder.title == f"Respond to {lead.display_name} by Mon 23 Nov 10:05 UTC"


def test_a_logged_call_meets_the_sla_and_stops_the_timers(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route)
    activity_create(lead=lead, kind=ActivityKind.CALL, summary="Called", actor=lead.owner)
    assert sla_clock_remind(clock_id=clock.pk, now=MONDAY_10_UTC + 3 * MINUTE) is False
    clock.refresh_from_db()
    # The call was logged at the real "now", long after the simulated deadline: answered late.
    assert clock.outcome == ClockOutcome.BREACHED and clock.reason == "Answered after the deadline."
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 6 * MINUTE) is None
    lead.refresh_from_db()
    assert lead.owner.username == "rep1"  # type: ignore[union-attr]
    assert _sla_entries(lead) == []


def test_status_change_in_time_meets_the_sla(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route, now=dt.datetime.now(dt.UTC))
    lead_status_change(lead=lead, status="attempting", actor=lead.owner)
    assert sla_clock_check(clock_id=clock.pk, now=clock.due_at) == "met"  # type: ignore[arg-type]
    clock.refresh_from_db()
    assert clock.outcome == ClockOutcome.MET


def test_breach_reassigns_to_the_next_rep_with_the_reason(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route)
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 4 * MINUTE) is None  # not due yet
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 5 * MINUTE) == "reassigned"
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 6 * MINUTE) is None  # idempotent
    lead.refresh_from_db()
    assert lead.owner is not None and lead.owner.username == "rep2"
    clock.refresh_from_db()
    assert clock.outcome == ClockOutcome.BREACHED and clock.ended_at == MONDAY_10_UTC + 5 * MINUTE
    assert _sla_entries(lead) == [
        "SLA breached: rep1 did not respond within 5 working minutes (due Mon 23 Nov 10:05 UTC)."
    ]
    reassignment = Activity.objects.filter(lead=lead, kind=ActivityKind.ASSIGNMENT).latest("id")
    assert reassignment.summary.startswith("Reassigned from rep1 to rep2: SLA breached: rep1 did not respond")
    second = ResponseClock.objects.get(lead=lead, outcome=ClockOutcome.OPEN)
    assert second.owner_id == lead.owner_id and second.due_at == MONDAY_10_UTC + 10 * MINUTE
    assert Notification.objects.filter(recipient=lead.owner, kind="assignment", lead=lead).exists()
    assert Notification.objects.filter(recipient__username="rep1", kind="breach", lead=lead).exists()


def test_reassignments_stop_at_the_limit_then_the_manager_hears(sla_team: Team, route: Route) -> None:
    team_routing_update(team=sla_team, method="round_robin", sla_minutes=5, max_reassignments=1)
    lead, clock = _lead(route)
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 5 * MINUTE) == "reassigned"
    second = ResponseClock.objects.get(lead=lead, outcome=ClockOutcome.OPEN)
    assert sla_clock_check(clock_id=second.pk, now=MONDAY_10_UTC + 10 * MINUTE) == "escalated"
    lead.refresh_from_db()
    assert lead.owner.username == "rep2"  # type: ignore[union-attr]  # escalation keeps the owner
    assert _sla_entries(lead)[-1] == "Escalated to the manager boss because it was already reassigned 1 time."
    escalation = Notification.objects.get(recipient=sla_team.manager, kind="escalation")
    assert escalation.body.endswith("The lead is still with rep2.")


def test_escalate_action_notifies_the_manager(sla_team: Team, route: Route) -> None:
    team_routing_update(
        team=sla_team, method="round_robin", sla_minutes=5, breach_action=BreachAction.ESCALATE
    )
    lead, clock = _lead(route)
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 5 * MINUTE) == "escalated"
    assert _sla_entries(lead)[-1] == "Escalated to the manager boss."


def test_nobody_else_free_escalates(sla_team: Team, route: Route) -> None:
    for name in ("rep2", "rep3"):
        rep_schedule_set(user=User.objects.get(username=name), hours={"sun": [["09:00", "10:00"]]})
    lead, clock = _lead(route)
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 5 * MINUTE) == "escalated"
    assert _sla_entries(lead)[-1] == (
        "Escalated to the manager boss because nobody else in Sales is available "
        "(rep2: outside working hours, rep3: outside working hours)."
    )


def test_manual_reassignment_ends_the_clock(sla_team: Team, route: Route) -> None:
    lead, clock = _lead(route)
    rep3 = User.objects.get(username="rep3")
    lead_assign(lead=lead, owner=rep3, actor=None, reason="Speaks German", now=MONDAY_10_UTC + MINUTE)
    clock.refresh_from_db()
    assert clock.outcome == ClockOutcome.ENDED and clock.reason == "Reassigned: Speaks German"
    assert sla_clock_check(clock_id=clock.pk, now=MONDAY_10_UTC + 5 * MINUTE) is None
    new = ResponseClock.objects.get(lead=lead, outcome=ClockOutcome.OPEN)
    assert new.owner_id == rep3.pk and new.due_at == MONDAY_10_UTC + 6 * MINUTE


def test_timers_are_enqueued_on_commit_with_run_after(
    sla_team: Team, route: Route, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with django_capture_on_commit_callbacks(execute=True):
        _, clock = _lead(route)
    timers = {
        (row.task_path.rsplit(".", 1)[-1], row.run_after)
        for row in DBTaskResult.objects.filter(task_path__startswith="leadflow.routing.tasks.sla")
    }
    assert timers == {("sla_remind", clock.remind_at), ("sla_check", clock.due_at)}
    assert DBTaskResult.objects.filter(task_path="leadflow.routing.tasks.notification_email").count() == 1


def test_sla_settings_are_validated(sales_team: Team) -> None:
    with pytest.raises(RoutingInputError) as err:
        team_routing_update(
            team=sales_team,
            method="round_robin",
            sla_minutes=5,
            sla_reminder_minutes=5,
            breach_action=BreachAction.ESCALATE,
        )
    assert set(err.value.errors) == {"sla_reminder_minutes", "breach_action"}
