"""core.db.pipelined: the ORM behaves inside it as outside (PostgreSQL's pipeline mode; a no-op elsewhere)."""

import pytest
from django.db import IntegrityError, connection, transaction
from psycopg import pq

from leadflow.core.db import COPY_FROM_ROWS, bulk_insert, bulk_update_fast, pipelined
from leadflow.leads.models import Activity, ActivityKind, Lead, Source

pytestmark = pytest.mark.django_db(transaction=True)


def test_saves_that_check_the_row_count_work_inside() -> None:
    lead = Lead.objects.create(first_name="Ada")
    with transaction.atomic(), pipelined():
        lead.company = "Engines"
        lead.save(update_fields=["company"])  # raises if the UPDATE's row count were not waited for
        assert Lead.objects.filter(pk=lead.pk).update(score=7) == 1
    assert Lead.objects.values_list("company", "score").get() == ("Engines", 7)


def test_get_or_create_survives_the_duplicate_it_catches() -> None:
    Source.objects.create(name="Fair")
    with transaction.atomic(), pipelined():
        with pytest.raises(IntegrityError), transaction.atomic():
            Source.objects.create(name="Fair")
        source, created = Source.objects.get_or_create(name="Fair")
        assert not created
        Lead.objects.create(first_name="after", source=source)  # the transaction goes on
    assert Lead.objects.get().source == source


def test_a_failed_write_fails_the_block_inside_the_transaction() -> None:
    Source.objects.create(name="Fair")
    with pytest.raises(IntegrityError), transaction.atomic(), pipelined():
        Lead.objects.create(first_name="rolled back")
        bulk_insert([Source(name="Fair")], ids=False)  # its error comes at the block's end at the latest
    assert not Lead.objects.exists()


def test_bulk_writes_of_copy_size_and_unread_ids() -> None:
    leads = bulk_insert([Lead(first_name=f"L{i}") for i in range(COPY_FROM_ROWS + 5)])
    with transaction.atomic(), pipelined():
        many = bulk_insert([Lead(first_name=f"M{i}") for i in range(COPY_FROM_ROWS + 5)])
        for lead in leads:
            lead.score = 3
        assert bulk_update_fast(leads, ["score"]) == len(leads)
        quiet = bulk_insert(
            [Activity(lead=many[0], kind=ActivityKind.NOTE, summary=f"n{i}") for i in range(3)], ids=False
        )
    assert all(lead.pk for lead in many) and [a.pk for a in quiet] == [None, None, None]
    assert Lead.objects.filter(score=3).count() == len(leads)
    assert Activity.objects.filter(lead=many[0]).count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pipeline mode")
def test_the_connection_is_left_as_it_was() -> None:
    connection.ensure_connection()
    raw = connection.connection
    factory = raw.cursor_factory
    with transaction.atomic(), pipelined():
        assert raw.cursor_factory is not factory
        with pipelined():  # nested: the same pipeline
            Lead.objects.create(first_name="x")
            assert raw.pgconn.pipeline_status == pq.PipelineStatus.ON
    assert raw.cursor_factory is factory and raw.pgconn.pipeline_status == pq.PipelineStatus.OFF
