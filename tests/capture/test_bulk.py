"""The bulk form of the intake flow gives the same result as capturing one lead at a time."""

from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leadflow.access.models import Team
from leadflow.capture.models import Submission
from leadflow.capture.services import lead_capture, leads_capture_bulk
from leadflow.leads.fields import STANDARD_FIELDS
from leadflow.leads.models import Lead, Source, Task
from leadflow.routing.models import RoundRobinState

pytestmark = pytest.mark.django_db

EXISTING = [
    {"email": "known@example.com", "first_name": "Known", "company": "Old Co"},
    {"phone": "+1 212 555 0199", "first_name": "Phoney"},
]
ROWS: list[dict[str, Any]] = [
    {"email": "new1@example.com", "first_name": "nina", "utm_source": "fair"},
    {"email": "KNOWN@example.com", "company": "New Co", "job_title": "CTO"},
    {"email": "broken@", "first_name": "Bad"},
    {"email": "new1@example.com", "last_name": "Berg", "utm_source": "web", "phone": "+1 212 555 0100"},
    {"phone": "(212) 555-0199", "email": "phoney@example.com", "country": "us"},
    {"phone": "+1 212 555 0100", "company": "Matched by phone"},
    {"external_id": "row-7", "first_name": "Ext"},
    {"external_id": "row-7", "email": "ext@example.com", "source": "Trade show"},
    {"first_name": "No identity"},
    {"email": "new2@example.com", "consent": {"email": True}, "custom": {"unknown": 1}},
]


def _portable(kind: str, value: str) -> tuple[str, str]:
    """External ids are scoped by source id, which differs between the two runs: use the name."""
    scope, _, rest = value.partition(":")
    if kind == "external_id" and scope.isdigit():
        return kind, f"{Source.objects.get(pk=int(scope)).name}:{rest}"
    return kind, value


def snapshot() -> dict[str, Any]:
    leads = {}
    for lead in Lead.objects.select_related("owner", "team", "source", "first_touch", "last_touch"):
        key = tuple(
            sorted(_portable(kind, value) for kind, value in lead.identities.values_list("kind", "value"))
        )
        leads[key] = {
            **{name: getattr(lead, name) for name in STANDARD_FIELDS},
            "custom": lead.custom,
            "extra": lead.extra,
            "stage": lead.stage,
            "score": lead.score,
            "owner": lead.owner.username if lead.owner else None,
            "team": lead.team.name if lead.team else None,
            "source": lead.source.name if lead.source else None,
            "touches": lead.touches.count(),
            "first_touch": lead.first_touch.utm_source if lead.first_touch else None,
            "last_touch": lead.last_touch.utm_source if lead.last_touch else None,
            "activities": Counter(lead.activities.values_list("kind", flat=True)),
            "consents": sorted(lead.consents.values_list("channel", "state")),
            "tasks": Task.objects.filter(lead=lead).count(),
        }
    submissions = list(Submission.objects.order_by("pk").values_list("status", "outcome"))
    return {"leads": leads, "submissions": submissions}


def reset() -> None:
    for model in (Lead, Submission, RoundRobinState, Source):
        model.objects.all().delete()


def test_bulk_and_one_by_one_agree(sales_team: Team) -> None:
    for payload in EXISTING:
        lead_capture(payload=payload, channel="import")
    for payload in ROWS:
        lead_capture(payload=payload, channel="import")
    one_by_one = snapshot()

    reset()
    for payload in EXISTING:
        lead_capture(payload=payload, channel="import")
    result = leads_capture_bulk(payloads=ROWS, channel="import", batch_size=4)
    bulk = snapshot()

    assert bulk == one_by_one
    assert (result.created, result.updated, result.quarantined) == (4, 4, 2)
    assert len(bulk["leads"]) == 6


def test_bulk_is_set_based_not_per_row(sales_team: Team) -> None:
    """Statements grow only with the database's parameter-limit chunks, never one per row."""

    def queries(count: int, offset: int) -> int:
        rows = [{"email": f"n{offset + i}@example.com", "company": "Acme"} for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            leads_capture_bulk(payloads=rows, batch_size=1000)
        return len(captured)

    few, many = queries(10, 0), queries(200, 100)
    assert many < 2 * few < 200
