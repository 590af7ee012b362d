"""The manager dashboard: funnel, sources and speed to lead, for managers, marketing and admins."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from leadflow.access.models import Role, User
from leadflow.analytics.selectors import Dashboard, SpeedRow, dashboard, period_last

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
DASHBOARD_ROLES = {Role.MANAGER, Role.MARKETING, Role.ADMIN}


@login_required
def dashboard_page(request: HttpRequest) -> HttpResponse:
    """Figures over the last 7, 30 or 90 days (?days=…); other roles get a 404."""
    viewer = request.user
    assert isinstance(viewer, User)
    if viewer.role not in DASHBOARD_ROLES and not viewer.is_superuser:
        raise Http404
    days = _days(request.GET.get("days"))
    figures = dashboard(viewer=viewer, period=period_last(days=days))
    return render(request, "web/dashboard/dashboard.html", {"periods": PERIODS, **_context(figures)})


def _days(value: str | None) -> int:
    try:
        days = int(value or DEFAULT_PERIOD)
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _context(figures: Dashboard) -> dict[str, Any]:
    response = figures.response
    share = response.within_hour_share
    return {
        "figures": figures,
        "week_change": figures.this_week - figures.last_week,
        "week_drop": figures.last_week - figures.this_week,
        "median_response": duration_label(response.median) if response.median is not None else None,
        "within_hour_percent": round(share * 100) if share is not None else None,
        "stage_chart": {
            "labels": [row.label for row in figures.by_stage],
            "values": [row.leads for row in figures.by_stage],
        },
        "source_chart": {
            "labels": [row.name for row in figures.by_source],
            "values": [row.leads for row in figures.by_source],
        },
        "source_chart_height": max(160, 40 + 34 * len(figures.by_source)),
        "has_period_leads": any(row.leads for row in figures.by_stage),
        "shows_cost": any(row.cost is not None for row in figures.by_source),
        "speed_overall": _speed(figures.speed.overall),
        "speed_tables": [
            ("rep", "Rep", [_speed(row) for row in figures.speed.by_rep]),
            ("team", "Team", [_speed(row) for row in figures.speed.by_team]),
            ("source", "Source", [_speed(row) for row in figures.speed.by_source]),
        ],
    }


def _speed(row: SpeedRow) -> dict[str, Any]:
    compliance = row.sla_compliance
    return {
        "name": row.name,
        "assignments": row.assignments,
        "responded": row.responded,
        "median": duration_label(row.median) if row.median is not None else None,
        "p90": duration_label(row.p90) if row.p90 is not None else None,
        "sla_due": row.sla_due,
        "sla_met": row.sla_met,
        "compliance": round(compliance * 100) if compliance is not None else None,
    }


def duration_label(duration: timedelta) -> str:
    """A short, human duration: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = round(duration.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


urlpatterns: list[URLPattern] = [path("dashboard/", dashboard_page, name="dashboard")]
