"""core.db.bulk_insert and bulk_update_fast on large batches (COPY on PostgreSQL)."""

import datetime as dt
import json
from typing import Any

import pytest
from django.db import IntegrityError, models, transaction

from leadflow.capture.models import Submission
from leadflow.core.db import (
    COPY_FROM_ROWS,
    INSERT_CHUNK,
    bulk_insert,
    bulk_update_fast,
    ids_reserve,
    json_text,
    new_instance,
)
from leadflow.leads.models import Activity, Lead, LeadIdentity, Task, Touch

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


@pytest.mark.parametrize("count", [1, 3, INSERT_CHUNK + 2])
def test_a_small_batch_gets_each_row_its_own_id_in_order(count: int) -> None:
    lead = Lead(first_name="later")
    identities = [LeadIdentity(lead=lead, kind="email", value=f"p{i}@example.com") for i in range(count)]
    lead.save()  # saved after the identities were built: they take its key when inserted
    inserted = bulk_insert(identities)
    assert inserted == identities and all(not row._state.adding for row in inserted)
    stored = dict(LeadIdentity.objects.values_list("pk", "value"))
    assert [stored[row.pk] for row in inserted] == [f"p{i}@example.com" for i in range(count)]
    assert set(LeadIdentity.objects.values_list("lead_id", flat=True)) == {lead.pk}


def test_a_small_batch_writes_json_and_defaults() -> None:
    (lead,) = bulk_insert([Lead(first_name="Ann", custom={"plan": "pro", "seats": 3})])
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.custom == {"plan": "pro", "seats": 3} and stored.created_at is not None
    assert stored.first_name == "Ann" and stored.stage == lead.stage


def test_a_duplicate_in_a_small_batch_is_an_integrity_error() -> None:
    lead = Lead.objects.create(first_name="x")
    rows = [LeadIdentity(lead=lead, kind="email", value=v) for v in ("a@example.com", "a@example.com")]
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(rows)
    assert not LeadIdentity.objects.exists()


@pytest.mark.parametrize("count", [1, COPY_FROM_ROWS + 5])
def test_reserved_ids_are_new_and_rows_can_point_at_them_before_they_are_written(count: int) -> None:
    earlier = Lead.objects.create(first_name="earlier")
    with transaction.atomic():
        ids = ids_reserve(Lead, count)
        assert len(set(ids)) == count and min(ids) > earlier.pk
        leads = [Lead(pk=pk, first_name=f"R{pk}") for pk in ids]
        bulk_insert(
            [LeadIdentity(lead=lead, kind="email", value=f"r{lead.pk}@example.com") for lead in leads]
        )
        bulk_insert(leads)  # the identities were written first: their keys are checked at commit
    assert sorted(Lead.objects.filter(first_name__startswith="R").values_list("pk", flat=True)) == ids
    assert LeadIdentity.objects.filter(lead_id__in=ids).count() == count
    assert Lead.objects.create(first_name="later").pk > max(ids)  # the table's counter moved past them


@pytest.mark.django_db(transaction=True)
def test_a_row_pointing_at_an_id_never_written_fails_at_commit() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        (pk,) = ids_reserve(Lead, 1)
        bulk_insert([LeadIdentity(lead_id=pk, kind="email", value="ghost@example.com")])
    assert not LeadIdentity.objects.exists()


WHEN = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC)
BUILT = [
    (Lead, {"first_name": "Ann", "email": "ann@example.com", "created_at": WHEN, "updated_at": WHEN}),
    (LeadIdentity, {"lead_id": 7, "kind": "email", "value": "ann@example.com", "created_at": WHEN}),
    (
        Touch,
        {"lead_id": 7, "submission_id": 3, "channel": "import", "utm_source": "fair", "occurred_at": WHEN},
    ),
    (Activity, {"lead_id": 7, "kind": "capture", "payload": {"a": [1]}, "occurred_at": WHEN}),
    (Submission, {"channel": "import", "payload": {"Email": "x"}, "import_row": 4, "received_at": WHEN}),
    (Task, {"lead_id": 7, "assignee_id": None, "title": "First contact", "due_at": WHEN, "created_at": WHEN}),
]


@pytest.mark.parametrize(("model", "values"), BUILT, ids=[m.__name__ for m, _ in BUILT])
def test_new_instance_equals_the_models_own_constructor(
    model: type[models.Model], values: dict[str, Any]
) -> None:
    fast, django = new_instance(model, **values), model(**values)
    assert {k: v for k, v in fast.__dict__.items() if k != "_state"} == {
        k: v for k, v in django.__dict__.items() if k != "_state"
    }
    assert fast._state.adding and fast._state.db is None and fast.pk is None


def test_new_instance_gives_each_row_its_own_mutable_defaults_and_refuses_unknown_names() -> None:
    first, second = new_instance(Activity, lead_id=1), new_instance(Activity, lead_id=1)
    first.payload["x"] = 1
    assert second.payload == {}
    with pytest.raises(TypeError, match=r"no columns \['lead'\]"):
        new_instance(Activity, lead=Lead(pk=1))


@pytest.mark.parametrize("count", [1, N])
def test_rows_built_fast_are_written_with_their_json(count: int) -> None:
    lead = Lead.objects.create(first_name="x")
    rows = [
        new_instance(Activity, lead_id=lead.pk, kind="note", payload={"n": i, "é": [None, True]})
        for i in range(count)
    ]
    bulk_insert(rows)
    stored = {a.pk: a.payload for a in Activity.objects.filter(lead=lead)}
    assert [stored[row.pk] for row in rows] == [{"n": i, "é": [None, True]} for i in range(count)]


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, None, True]}, {1: "int key", "é": "ü\u2028"}, [10**30, -(2**63)], "text", 3, None, {}],
)
def test_json_text_stores_what_json_dumps_stores(value: Any) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_json_text_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError):
        json_text({"when": WHEN})
