"""Dashboard figures: funnel, sources and their cost, speed to lead.

Every lead figure starts from leads.selectors.lead_visible, so a manager's dashboard counts only
their teams' leads. Each figure is one aggregate query (GROUP BY or conditional counts).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connections
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.capture.models import Submission, SubmissionStatus
from leadflow.leads.models import Lead, Stage
from leadflow.leads.selectors import lead_visible
from leadflow.routing.models import ClockOutcome, ResponseClock

# A first response within this time counts as a fast one.
FAST_RESPONSE = timedelta(hours=1)


@dataclass(frozen=True)
class Period:
    """The half-open time range [start, end) a dashboard covers."""

    start: datetime
    end: datetime
    days: int


def period_last(*, days: int, now: datetime | None = None) -> Period:
    end = now or timezone.now()
    return Period(start=end - timedelta(days=days), end=end, days=days)


@dataclass(frozen=True)
class StageCount:
    stage: str
    label: str
    leads: int


@dataclass(frozen=True)
class SourceFigures:
    """Leads from one source in the period; cost and cost per lead (over all its leads) when known."""

    source_id: int | None
    name: str
    leads: int
    leads_all_time: int
    cost: Decimal | None
    cost_per_lead: Decimal | None


@dataclass(frozen=True)
class ResponseTimes:
    """Speed to lead over the leads assigned in the period.

    Leads that had their first response before their current assignment (reassigned after being
    worked) are left out: their response clock does not apply.
    """

    assigned: int
    responded: int
    within_hour: int
    median: timedelta | None

    @property
    def within_hour_share(self) -> float | None:
        return self.within_hour / self.assigned if self.assigned else None


@dataclass(frozen=True)
class Dashboard:
    period: Period
    teams: list[str]  # the teams a manager's figures cover; empty when the viewer sees all leads
    total: int
    unassigned: int
    this_week: int
    last_week: int
    by_stage: list[StageCount]
    by_source: list[SourceFigures]
    response: ResponseTimes
    speed: "SpeedToLead"
    quarantined: int | None  # only for those who see every lead (marketing, admins)


def dashboard(*, viewer: User, period: Period) -> Dashboard:
    """The figures of the manager dashboard for what `viewer` may see."""
    visible = lead_visible(viewer=viewer)
    week_start = _week_start(now=period.end, tz_name=viewer.timezone)
    counts = visible.aggregate(
        total=Count("id"),
        unassigned=Count("id", filter=Q(owner__isnull=True)),
        this_week=Count("id", filter=Q(created_at__gte=week_start, created_at__lt=period.end)),
        last_week=Count(
            "id", filter=Q(created_at__gte=week_start - timedelta(days=7), created_at__lt=week_start)
        ),
    )
    return Dashboard(
        period=period,
        teams=[] if viewer.sees_all_leads else _viewer_teams(viewer),
        total=counts["total"],
        unassigned=counts["unassigned"],
        this_week=counts["this_week"],
        last_week=counts["last_week"],
        by_stage=_by_stage(visible, period),
        by_source=_by_source(visible, period, with_cost=viewer.sees_all_leads),
        response=_response_times(visible, period),
        speed=speed_to_lead(visible=visible, period=period),
        quarantined=(
            Submission.objects.filter(status=SubmissionStatus.QUARANTINED).count()
            if viewer.sees_all_leads
            else None
        ),
    )


def _week_start(*, now: datetime, tz_name: str) -> datetime:
    """Monday 00:00 of the current week in the viewer's time zone."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    return (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def _viewer_teams(viewer: User) -> list[str]:
    teams = Team.objects.filter(Q(memberships__user=viewer) | Q(manager=viewer)).distinct()
    return list(teams.order_by("name").values_list("name", flat=True))


def _created_in(period: Period) -> Q:
    return Q(created_at__gte=period.start, created_at__lt=period.end)


def _by_stage(visible: QuerySet[Lead], period: Period) -> list[StageCount]:
    """Leads created in the period by their current stage, every stage listed in funnel order."""
    counts = dict(visible.filter(_created_in(period)).values_list("stage").annotate(n=Count("id")).order_by())
    return [
        StageCount(stage=value, label=label, leads=counts.get(value, 0)) for value, label in Stage.choices
    ]


def _by_source(visible: QuerySet[Lead], period: Period, *, with_cost: bool) -> list[SourceFigures]:
    """Leads created in the period by source, most first.

    A source's cost is what was spent on all its leads, so its cost per lead divides by all of them;
    it is shown only to those who see every lead (one team's share would make it look dearer).
    """
    rows = (
        visible.values("source_id", "source__name", "source__cost")
        .annotate(leads=Count("id", filter=_created_in(period)), leads_all_time=Count("id"))
        .filter(leads__gt=0)
        .order_by("-leads", F("source__name").asc(nulls_last=True))
    )
    figures = []
    for row in rows:
        cost = row["source__cost"] if with_cost else None
        figures.append(
            SourceFigures(
                source_id=row["source_id"],
                name=row["source__name"] or "No source",
                leads=row["leads"],
                leads_all_time=row["leads_all_time"],
                cost=cost,
                cost_per_lead=(cost / row["leads_all_time"]).quantize(Decimal("0.01")) if cost else None,
            )
        )
    return figures


class Median(Aggregate):
    """PostgreSQL's exact, interpolating median of a duration."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def _response_times(visible: QuerySet[Lead], period: Period) -> ResponseTimes:
    """Time from assignment to first response over the leads assigned in the period.

    The median is computed in the database: with PERCENTILE_CONT on PostgreSQL, elsewhere by sorting
    the durations and reading the one or two middle rows (ORDER BY … LIMIT 2 OFFSET n/2), so at most
    two rows ever reach Python.
    """
    assigned = visible.filter(
        Q(first_response_at__isnull=True) | Q(first_response_at__gte=F("assigned_at")),
        owner__isnull=False,
        assigned_at__gte=period.start,
        assigned_at__lt=period.end,
    )
    duration = ExpressionWrapper(F("first_response_at") - F("assigned_at"), output_field=DurationField())
    responded = Q(first_response_at__isnull=False)
    on_postgres = connections[assigned.db].vendor == "postgresql"
    figures = assigned.aggregate(
        assigned=Count("id"),
        responded=Count("id", filter=responded),
        within_hour=Count("id", filter=Q(first_response_at__lte=F("assigned_at") + FAST_RESPONSE)),
        **({"median": Median(duration, filter=responded)} if on_postgres else {}),
    )
    median = figures.get("median")
    if not on_postgres and figures["responded"]:
        n = figures["responded"]
        middle = list(
            assigned.filter(responded)
            .annotate(duration=duration)
            .order_by("duration")
            .values_list("duration", flat=True)[(n - 1) // 2 : n // 2 + 1]
        )
        median = sum(middle, timedelta()) / len(middle)
    return ResponseTimes(
        assigned=figures["assigned"],
        responded=figures["responded"],
        within_hour=figures["within_hour"],
        median=median,
    )


# Speed to lead over response clocks (one per assignment of an unanswered lead, see routing.models)


@dataclass(frozen=True)
class SpeedRow:
    """Speed to lead of one rep, team or source over the assignments started in the period.

    `median` and `p90` are nearest-rank percentiles of the time from assignment to the first response,
    over the answered assignments. SLA compliance counts assignments with a deadline whose outcome is
    known: answered (in time or late) or past the deadline; an assignment handed on by a person before
    its deadline without an answer does not count.
    """

    key: int | None
    name: str
    assignments: int
    responded: int
    median: timedelta | None
    p90: timedelta | None
    sla_due: int
    sla_met: int

    @property
    def sla_compliance(self) -> float | None:
        return self.sla_met / self.sla_due if self.sla_due else None


@dataclass(frozen=True)
class SpeedToLead:
    overall: SpeedRow
    by_rep: list[SpeedRow]
    by_team: list[SpeedRow]
    by_source: list[SpeedRow]


# group name → (the clock's grouping column, the columns that name a key)
SPEED_GROUPS = {
    "rep": ("owner_id", ("owner__username", "owner__first_name", "owner__last_name")),
    "team": ("team_id", ("team__name",)),
    "source": ("lead__source_id", ("lead__source__name",)),
}
NO_NAME = {"rep": "Nobody", "team": "No team", "source": "No source"}


def speed_to_lead(*, visible: QuerySet[Lead], period: Period) -> SpeedToLead:
    """Median and p90 time to first response and SLA compliance, overall and per rep, team and source.

    Each figure is computed in SQL on SQLite and PostgreSQL alike: counts with conditional aggregates,
    percentiles with ROW_NUMBER() and COUNT() windows so only the percentile rows reach Python.
    """
    clocks = ResponseClock.objects.filter(
        lead_id__in=visible.values("id"), started_at__gte=period.start, started_at__lt=period.end
    )
    answer = F("lead__first_response_at")
    responded = Q(lead__first_response_at__gte=F("started_at")) & (
        Q(ended_at__isnull=True) | Q(lead__first_response_at__lte=F("ended_at"))
    )
    judged = Q(due_at__isnull=False) & (
        responded | (Q(due_at__lte=period.end) & ~Q(outcome=ClockOutcome.ENDED))
    )
    counts = {
        "assignments": Count("id"),
        "responded": Count("id", filter=responded),
        "sla_due": Count("id", filter=judged),
        "sla_met": Count(
            "id", filter=responded & Q(due_at__isnull=False, lead__first_response_at__lte=F("due_at"))
        ),
    }
    duration = ExpressionWrapper(answer - F("started_at"), output_field=DurationField())
    answered = clocks.filter(responded)

    def percentiles(column: str | None) -> dict[int | None, tuple[timedelta, timedelta]]:
        partition = [F(column)] if column else []
        ranked = answered.annotate(
            duration=duration,
            rank=Window(RowNumber(), partition_by=partition, order_by=[duration.asc(), F("id").asc()]),
            size=Window(Count("id"), partition_by=partition),
        )
        # Nearest rank: the median is row ceil(n/2), the 90th percentile row ceil(9n/10).
        rows = ranked.filter(Q(rank=(F("size") + 1) / 2) | Q(rank=(F("size") * 9 + 9) / 10)).values_list(
            *([column] if column else []), "rank", "size", "duration"
        )
        found: dict[int | None, dict[str, timedelta]] = {}
        for row in rows:
            key, rank, size, value = row if column else (None, *row)
            marks = found.setdefault(key, {})
            if rank == (size + 1) // 2:
                marks["median"] = value
            if rank == (size * 9 + 9) // 10:
                marks["p90"] = value
        return {key: (marks["median"], marks["p90"]) for key, marks in found.items()}

    groups: dict[str, list[SpeedRow]] = {}
    for group, (column, name_columns) in SPEED_GROUPS.items():
        marks = percentiles(column)
        rows = clocks.values(column, *name_columns).annotate(**counts).order_by(column)
        groups[group] = sorted(
            (
                SpeedRow(
                    key=row[column],
                    name=_speed_name(group, [row[name] for name in name_columns]),
                    median=marks.get(row[column], (None, None))[0],
                    p90=marks.get(row[column], (None, None))[1],
                    **{name: row[name] for name in counts},
                )
                for row in rows
            ),
            key=lambda r: (-r.assignments, r.name),
        )
    overall_marks = percentiles(None).get(None)
    overall = SpeedRow(
        key=None,
        name="All",
        median=overall_marks[0] if overall_marks else None,
        p90=overall_marks[1] if overall_marks else None,
        **{name: sum(getattr(row, name) for row in groups["rep"]) for name in counts},
    )
    return SpeedToLead(
        overall=overall, by_rep=groups["rep"], by_team=groups["team"], by_source=groups["source"]
    )


def _speed_name(group: str, parts: list[str | None]) -> str:
    if parts[0] is None:
        return NO_NAME[group]
    if group == "rep":
        username, first, last = parts
        return f"{first or ''} {last or ''}".strip() or str(username)
    return str(parts[0])
