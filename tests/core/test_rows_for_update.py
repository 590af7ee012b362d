"""core.db.rows_for_update reads what select_for_update().select_related().in_bulk() reads."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from leadflow.access.models import User
from leadflow.core.db import rows_for_update, rows_matching
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db


def test_rows_and_their_owner_as_the_orm_reads_them(
    make_user: Callable[..., User], django_assert_num_queries: Callable[..., object]
) -> None:
    rep = make_user("rep")
    owned = Lead.objects.create(
        first_name="Ada",
        email="ada@example.com",
        annual_revenue=Decimal("1500000.50"),
        custom={"seats": 12, "tags": ["a", "ü"]},
        extra={"nested": {"x": None}},
        is_test=True,
        owner=rep,
        assigned_at=timezone.now(),
    )
    unowned = Lead.objects.create(first_name="Bob")
    ids = [owned.pk, unowned.pk, 999_999]

    with transaction.atomic():
        ours = rows_for_update(Lead, ids, related="owner")
        orm = Lead.objects.select_for_update(of=("self",)).select_related("owner").in_bulk(ids)

    assert set(ours) == set(orm) == {owned.pk, unowned.pk}
    for pk, lead in ours.items():
        assert model_to_dict(lead) == model_to_dict(orm[pk])
        assert lead.created_at == orm[pk].created_at and not lead._state.adding
    with django_assert_num_queries(0):  # the owner came with the row
        assert ours[owned.pk].owner == rep and ours[owned.pk].owner.username == "rep"
        assert ours[unowned.pk].owner is None
    assert ours[owned.pk].custom == {"seats": 12, "tags": ["a", "ü"]}
    assert ours[owned.pk].annual_revenue == Decimal("1500000.50") and ours[owned.pk].is_test is True


def test_no_ids_reads_nothing(django_assert_num_queries: Callable[..., object]) -> None:
    with django_assert_num_queries(0):
        assert rows_for_update(Lead, []) == {}


def test_without_a_related_row_the_foreign_key_loads_lazily(make_user: Callable[..., User]) -> None:
    lead = Lead.objects.create(first_name="Cy", owner=make_user("rep2"))
    with transaction.atomic():
        (read,) = rows_for_update(Lead, [lead.pk]).values()
    assert read.owner_id == lead.owner_id and read.first_name == "Cy"


def test_rows_matching_a_field_with_the_related_row(
    make_user: Callable[..., User], django_assert_num_queries: Callable[..., object]
) -> None:
    rep = make_user("rep3")
    a = Lead.objects.create(first_name="A", email="a@example.com", owner=rep)
    Lead.objects.create(first_name="B", email="b@example.com")

    with django_assert_num_queries(1):
        (read,) = rows_matching(Lead, "email", ["a@example.com", "nobody@example.com"], related="owner")
        assert read.owner == rep
    assert model_to_dict(read) == model_to_dict(Lead.objects.get(pk=a.pk))
    assert rows_matching(Lead, "email", []) == []
