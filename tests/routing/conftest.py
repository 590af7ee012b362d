"""Routing fixtures: explicit times and a helper to route saved leads."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from leadflow.leads.models import Activity, Lead
from leadflow.leads.steps import StepOutcome
from leadflow.routing.services import leads_route
from tests.web.conftest import login, org  # noqa: F401 - the web UI's organisation, for the routing screens

# Monday 2026-11-23, 10:00 UTC: 11:00 in Berlin, 05:00 in New York.
MONDAY_10_UTC = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

Route = Callable[..., dict[int, StepOutcome]]


@pytest.fixture
def route(db: None) -> Route:
    """Routes new leads made from field dicts as one batch, saving what the intake flow would save."""

    def run(*records: dict[str, Any], now: dt.datetime = MONDAY_10_UTC) -> dict[int, StepOutcome]:
        leads = [Lead.objects.create(**record) for record in records]
        outcomes = leads_route(leads=leads, now=now)
        for lead in leads:
            lead.save(update_fields=["owner", "team", "assigned_at"])
        Activity.objects.bulk_create([a for outcome in outcomes.values() for a in outcome.activities])
        return outcomes

    return run
