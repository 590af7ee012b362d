"""core.db.PlannerStatistics: a bulk run refreshes PostgreSQL's statistics as it grows the tables."""

import pytest
from django.db import connection

from leadflow.core.db import PlannerStatistics, bulk_insert, new_instance
from leadflow.leads.models import Lead, LeadIdentity

pytestmark = pytest.mark.django_db


def _write(count: int) -> None:
    leads = bulk_insert([new_instance(Lead, first_name=f"L{i}") for i in range(count)])
    bulk_insert(
        [
            new_instance(LeadIdentity, lead_id=lead.pk, kind="email", value=f"{lead.pk}@x.org")
            for lead in leads
        ]
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_statistics_are_refreshed_each_time_the_run_has_doubled_the_first_table() -> None:
    statistics = PlannerStatistics([Lead, LeadIdentity])
    statistics.MIN_ROWS = 100
    _write(60)
    statistics.rows_written(60)
    assert statistics.refreshes == 0  # fewer than MIN_ROWS
    _write(60)
    statistics.rows_written(60)
    assert statistics.refreshes == 1 and statistics.size == 120  # ANALYZE counted the leads
    _write(100)
    statistics.rows_written(100)
    assert statistics.refreshes == 1  # 100 more rows do not double 120
    _write(30)
    statistics.rows_written(30)
    assert statistics.refreshes == 2 and statistics.size == 250


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite needs no statistics")
def test_sqlite_is_left_alone() -> None:
    statistics = PlannerStatistics([Lead])
    statistics.rows_written(10**6)
    assert statistics.refreshes == 0
