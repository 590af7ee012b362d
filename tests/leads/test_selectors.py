"""Lead reads: every order of the lead list paged by keyset, and the inbox selectors."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from leadflow.access.models import Team, User
from leadflow.access.services import team_create
from leadflow.leads.models import Lead, Stage, Status, Task
from leadflow.leads.selectors import (
    LEAD_ORDERS,
    STAGE_ORDER,
    CursorError,
    LeadFilters,
    OrderError,
    encode_cursor,
    lead_hot,
    lead_inbox_new,
    lead_iter,
    lead_list,
    lead_pool,
    task_open_due,
)

pytestmark = pytest.mark.django_db

ALL = LeadFilters()


@pytest.fixture
def team(make_user: Callable[..., User]) -> Team:
    return team_create(name="North")


@pytest.fixture
def people(make_user: Callable[..., User], team: Team) -> dict[str, User]:
    """Three reps and their manager, all in one team."""
    return {
        "ann": make_user("ann", team=team, first_name="Ann", last_name="Zed"),
        "bob": make_user("bob", team=team, first_name="bob", last_name="Young"),
        "cyd": make_user("cyd", team=team),  # no name: the username is the label
        "dee": make_user("dee", role="manager", team=team, first_name="Dee"),
    }


@pytest.fixture
def leads(people: dict[str, User], team: Team) -> list[Lead]:
    """Thirty leads with many ties (names, companies in mixed case, scores, stages, creation times)
    and a third of them unassigned."""
    owners: list[User | None] = [people["ann"], None, people["bob"], people["cyd"], None, people["dee"]]
    last_names = ["smith", "Smith", "adams", "Adams", "", "brown"]
    first_names = ["joe", "Amy", "joe", "zoe", ""]
    companies = ["acme", "Acme", "ACME", "beta", "", "Zeta", "gamma"]
    stages = list(Stage.values)
    moments = [timezone.now() - timedelta(days=day) for day in (1, 1, 2, 3, 3, 3, 5)]
    created = []
    for i in range(30):
        created.append(
            Lead.objects.create(
                first_name=first_names[i % len(first_names)],
                last_name=last_names[i % len(last_names)],
                company=companies[i % len(companies)],
                score=[0, 10, 10, 50, 75][i % 5],
                stage=stages[i % len(stages)],
                owner=owners[i % len(owners)],
                team=team,
                created_at=moments[i % len(moments)],
            )
        )
    return created


def expected_key(order: str) -> Callable[[Lead], tuple[Any, ...]]:
    """The order each sort promises, in Python: no owner sorts as the largest owner."""

    keys: dict[str, Callable[[Lead], tuple[Any, ...]]] = {
        "created": lambda lead: (lead.created_at,),
        "score": lambda lead: (lead.score,),
        "name": lambda lead: (lead.last_name.lower(), lead.first_name.lower()),
        "company": lambda lead: (lead.company.lower(),),
        "stage": lambda lead: (STAGE_ORDER.index(Stage(lead.stage)),),
        "owner": lambda lead: (lead.owner_id is None, lead.owner_id or 0),
    }
    key = keys[order.removeprefix("-")]
    return lambda lead: (*key(lead), lead.pk)


def page_through(order: str, limit: int, viewer: User | None = None, filters: LeadFilters = ALL) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        page = lead_list(viewer=viewer, filters=filters, cursor=cursor, limit=limit, order=order)
        assert len(page.items) <= limit
        seen += [lead.pk for lead in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("paging never ended")


ORDERS = [key for name in LEAD_ORDERS for key in (name, f"-{name}")]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("limit", [1, 4, 7])
def test_every_order_pages_without_duplicates_or_gaps(leads: list[Lead], order: str, limit: int) -> None:
    paged = page_through(order, limit)
    everything = Lead.objects.select_related("owner")
    expected = [
        lead.pk for lead in sorted(everything, key=expected_key(order), reverse=order.startswith("-"))
    ]
    assert paged == expected


def test_owner_order_groups_each_owners_leads_with_the_unassigned_last(leads: list[Lead]) -> None:
    def owners(order: str) -> list[int | None]:
        return [lead.owner_id for lead in lead_list(viewer=None, filters=ALL, limit=30, order=order).items]

    ascending, descending = owners("owner"), owners("-owner")
    assert ascending[-10:] == [None] * 10 and descending[:10] == [None] * 10
    groups = [owner for i, owner in enumerate(ascending) if i == 0 or ascending[i - 1] != owner]
    assert len(groups) == len(set(groups)) == 5  # four owners and the pool, each in one run


def test_paging_respects_visibility_and_filters(leads: list[Lead], people: dict[str, User]) -> None:
    ann = people["ann"]
    visible = {lead.pk for lead in leads if lead.owner in (ann, None)}
    for order in ORDERS:
        assert set(page_through(order, 4, viewer=ann)) == visible
    acme = LeadFilters(q="acme", score_min=10)
    expected = {lead.pk for lead in leads if lead.company.lower() == "acme" and lead.score >= 10}
    assert set(page_through("-owner", 2, filters=acme)) == expected


def test_default_order_keeps_the_api_cursor_format(leads: list[Lead]) -> None:
    page = lead_list(viewer=None, filters=ALL, limit=2)
    last = page.items[-1]
    assert page.next_cursor == encode_cursor([last.created_at.isoformat(), last.pk])


@pytest.mark.parametrize(
    ("order", "values"),
    [
        ("score", ["ten", 1]),  # a text value where a number belongs
        ("score", [True, 1]),
        ("score", [None, 1]),  # NULL in a column that has none
        ("created", ["yesterday", 1]),
        ("name", ["smith", 1]),  # too few values for this order
        ("company", ["acme", "1"]),  # an id that is not a number
        ("owner", ["ann", 1]),
        ("created", ["2025-01-01T09:00:00", 1]),  # a time without its zone
    ],
)
def test_cursors_that_do_not_fit_the_order_are_refused(
    leads: list[Lead], order: str, values: list[Any]
) -> None:
    with pytest.raises(CursorError):
        lead_list(viewer=None, filters=ALL, cursor=encode_cursor(values), order=order)


def test_garbage_cursor_and_unknown_order_are_refused(leads: list[Lead]) -> None:
    with pytest.raises(CursorError):
        lead_list(viewer=None, filters=ALL, cursor="not a cursor")
    with pytest.raises(OrderError):
        lead_list(viewer=None, filters=ALL, order="email")


def test_lead_iter_walks_every_lead_in_chunks(leads: list[Lead], django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(3):  # 30 leads in chunks of 10, one query per chunk
        exported = [lead.pk for lead in lead_iter(viewer=None, filters=ALL, order="score", chunk_size=10)]
    assert exported == page_through("score", 7)


def test_inbox_new_lists_my_unanswered_new_leads_latest_assignment_first(
    people: dict[str, User], team: Team
) -> None:
    ann, bob = people["ann"], people["bob"]
    now = timezone.now()
    older = Lead.objects.create(owner=ann, team=team, assigned_at=now - timedelta(hours=2))
    newer = Lead.objects.create(owner=ann, team=team, assigned_at=now - timedelta(minutes=5))
    Lead.objects.create(owner=ann, team=team, assigned_at=now, first_response_at=now)  # answered
    Lead.objects.create(owner=ann, team=team, assigned_at=now, status=Status.ATTEMPTING)
    Lead.objects.create(owner=bob, team=team, assigned_at=now)
    assert lead_inbox_new(owner=ann) == [newer, older]


def test_hot_leads_are_the_top_scores_i_can_see(people: dict[str, User], team: Team) -> None:
    ann, bob = people["ann"], people["bob"]
    mine = [Lead.objects.create(owner=ann, team=team, score=60 + i) for i in range(12)]
    Lead.objects.create(owner=ann, team=team, score=49)
    Lead.objects.create(owner=bob, team=team, score=99)  # bob's: not ann's to see
    hot = lead_hot(viewer=ann, min_score=50)
    assert hot == sorted(mine, key=lambda lead: -lead.score)[:10]
    assert lead_hot(viewer=people["dee"], min_score=50)[0].score == 99  # the manager sees the whole team


def test_pool_is_the_unassigned_leads_of_my_teams(
    people: dict[str, User], team: Team, make_user: Callable[..., User]
) -> None:
    other = team_create(name="South")
    waiting = Lead.objects.create(team=team, created_at=timezone.now() - timedelta(days=1))
    newest = Lead.objects.create(team=team)
    Lead.objects.create(team=other)
    Lead.objects.create(team=team, owner=people["bob"])
    assert lead_pool(viewer=people["ann"]) == [waiting, newest]
    assert lead_pool(viewer=people["dee"]) == [waiting, newest]
    assert lead_pool(viewer=make_user("ada", role="admin")) == []  # sees everything, but is in no team


def test_open_tasks_due_before_a_moment(people: dict[str, User], team: Team) -> None:
    ann, bob = people["ann"], people["bob"]
    now = timezone.now()
    mine = Lead.objects.create(owner=ann, team=team)
    bobs = Lead.objects.create(owner=bob, team=team)
    overdue = Task.objects.create(lead=mine, assignee=ann, title="Call", due_at=now - timedelta(days=1))
    later = Task.objects.create(lead=mine, assignee=ann, title="Mail", due_at=now + timedelta(hours=1))
    Task.objects.create(lead=mine, assignee=ann, title="Later", due_at=now + timedelta(hours=3))
    Task.objects.create(lead=mine, assignee=ann, title="Done", due_at=now, done_at=now)
    Task.objects.create(lead=mine, assignee=bob, title="Bob's", due_at=now)
    Task.objects.create(lead=bobs, assignee=ann, title="On a lead ann cannot see", due_at=now)
    assert task_open_due(assignee=ann, due_before=now + timedelta(hours=2)) == [overdue, later]
