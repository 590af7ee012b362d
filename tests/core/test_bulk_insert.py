"""core.db.bulk_insert and bulk_update_fast on large batches (COPY on PostgreSQL)."""

import pytest
from django.db import IntegrityError, transaction

from leadflow.core.db import COPY_FROM_ROWS, bulk_insert, bulk_update_fast
from leadflow.leads.models import Lead, LeadIdentity

pytestmark = pytest.mark.django_db

N = COPY_FROM_ROWS + 10


def test_bulk_insert_sets_ids_and_defaults_and_bulk_update_writes_back() -> None:
    leads = bulk_insert([Lead(first_name=f"L{i}", custom={"n": i}) for i in range(N)])
    assert all(lead.pk for lead in leads) and len({lead.pk for lead in leads}) == N
    stored = Lead.objects.in_bulk([lead.pk for lead in leads])
    assert stored[leads[7].pk].custom == {"n": 7} and stored[leads[7].pk].created_at is not None
    for lead in leads:
        lead.company, lead.score = f"C{lead.pk}", 5
    assert bulk_update_fast(leads, ["company", "score"]) == N
    assert set(Lead.objects.values_list("score", flat=True)) == {5}
    assert Lead.objects.get(pk=leads[3].pk).company == f"C{leads[3].pk}"


def test_a_duplicate_key_is_an_integrity_error() -> None:
    lead = Lead.objects.create(first_name="x")
    rows = [LeadIdentity(lead=lead, kind="email", value=f"a{i}@example.com") for i in range(N)]
    rows.append(LeadIdentity(lead=lead, kind="email", value="a1@example.com"))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(rows)
    assert not LeadIdentity.objects.exists()
