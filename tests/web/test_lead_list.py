"""The lead list: who sees what, filters, sorting, keyset pages, htmx, saved views, bulk actions, CSV."""

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadflow.access.models import User
from leadflow.leads.models import Activity, Lead, Source, StageTransition
from leadflow.web.lead_list import CSV_COLUMNS
from leadflow.web.models import SavedView
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db

Login = Callable[[User], Client]


def listed(client: Client, query: str = "") -> list[int]:
    response = client.get(f"/leads/?{query}")
    assert response.status_code == 200
    return [lead.pk for lead in response.context["page"].items]


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    body = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(body))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def bulk(client: Client, action: str, ids: list[Any], **fields: str) -> Any:
    data: dict[str, Any] = {
        "ids": [str(i) for i in ids],
        "bulk-action": action,
        "query": fields.pop("query", ""),
    }
    data |= {f"bulk-{name}": value for name, value in fields.items()}
    return client.post("/leads/bulk/", data, follow=True)


# ---- who sees what -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("ann", {"ann_lead", "east_pool"}),
        ("bob", {"bob_lead", "east_pool"}),
        ("cal", {"cal_lead", "west_pool"}),
        ("mia", {"ann_lead", "bob_lead", "east_pool"}),
        ("meg", {"ann_lead", "bob_lead", "east_pool", "cal_lead", "west_pool"}),
        ("ada", {"ann_lead", "bob_lead", "east_pool", "cal_lead", "west_pool"}),
    ],
)
def test_each_role_lists_and_exports_only_what_it_may_see(
    org: Org, login: Login, username: str, expected: set[str]
) -> None:
    client = login(User.objects.get(username=username))
    ids = {getattr(org, name).pk for name in expected}
    assert set(listed(client)) == ids
    assert {int(row["id"]) for row in csv_rows(client.get("/leads/export.csv"))} == ids


def test_the_list_needs_sign_in(client: Client, org: Org) -> None:
    for response in (client.get("/leads/"), client.get("/leads/export.csv"), client.post("/leads/bulk/")):
        assert response.status_code == 302 and response["Location"].startswith("/login/")


# ---- filters -------------------------------------------------------------------------------------


def test_filters(org: Org, login: Login) -> None:
    webinar = Source.objects.create(name="Webinar")
    old = timezone.now() - timedelta(days=10)
    Lead.objects.filter(pk=org.ann_lead.pk).update(
        stage="mql", status="connected", score=80, company="Globex", source=webinar, created_at=old
    )
    Lead.objects.filter(pk=org.cal_lead.pk).update(score=20)
    ada = login(org.admin)
    ten_days_ago = timezone.localdate(old).isoformat()
    cases = {
        "stage=mql": {org.ann_lead},
        "status=connected": {org.ann_lead},
        f"owner={org.ann.pk}": {org.ann_lead},
        "owner=none": {org.east_pool, org.west_pool},
        f"team={org.west.pk}": {org.cal_lead, org.west_pool},
        f"source={webinar.pk}": {org.ann_lead},
        "score_min=20": {org.ann_lead, org.cal_lead},
        "score_min=10&score_max=50": {org.cal_lead},
        f"created_to={ten_days_ago}": {org.ann_lead},
        f"created_from={timezone.localdate().isoformat()}": {
            org.bob_lead,
            org.east_pool,
            org.cal_lead,
            org.west_pool,
        },
        "q=globex": {org.ann_lead},
        "q=BOBLEAD@example": {org.bob_lead},
        "q=westpool": {org.west_pool},
        f"q=acme&team={org.east.pk}&owner=none": {org.east_pool},
    }
    for query, expected in cases.items():
        assert set(listed(ada, query)) == {lead.pk for lead in expected}, query


def test_invalid_filters_show_a_message_and_never_a_500(org: Org, login: Login) -> None:
    Lead.objects.filter(pk=org.ann_lead.pk).update(status="connected")
    response = login(org.ann).get(
        "/leads/?status=connected&score_min=abc&stage=bogus&owner=99999&created_from=2024-02-31"
        "&team=x&source=-1&sort=email&cursor=garbage&q=" + "x" * 300
    )
    assert response.status_code == 200
    problems = response.context["problems"]
    assert problems[-1] == "That page link is no longer valid, so here is the first page."
    labels = {problem.split(":")[0] for problem in problems[:-1]}
    assert labels == {"Score from", "Stage", "Owner", "Created from", "Team", "Source", "Sort", "Search"}
    assert [lead.pk for lead in response.context["page"].items] == [org.ann_lead.pk]  # status still applies
    assert "This filter was left out." in response.content.decode()
    # values the database or the calendar cannot hold
    extremes = login(org.ann).get(
        "/leads/?score_max=99999999999999&created_to=9999-12-31&created_from=0001-01-01"
    )
    assert extremes.status_code == 200
    assert {p.split(":")[0] for p in extremes.context["problems"]} == {
        "Score to",
        "Created to",
        "Created from",
    }


def test_owner_filter_offers_only_people_i_may_assign_to(org: Org, login: Login) -> None:
    ann = login(org.ann)
    choices = dict(ann.get("/leads/").context["form"].fields["owner"].choices)
    assert set(choices) == {"", "none", str(org.ann.pk), str(org.bob.pk)}
    response = ann.get(f"/leads/?owner={org.cal.pk}")
    assert any(problem.startswith("Owner:") for problem in response.context["problems"])
    assert org.cal_lead.pk not in [lead.pk for lead in response.context["page"].items]


# ---- sorting and keyset pages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "label", "aria", "toggle"),
    [
        ("name", "Name", "ascending", "-name"),
        ("-company", "Company", "descending", "company"),
        ("stage", "Stage", "ascending", "-stage"),
        ("-score", "Score", "descending", "score"),
        ("owner", "Owner", "ascending", "-owner"),
        ("created", "Created", "ascending", "-created"),
    ],
)
def test_sortable_columns_say_their_direction(
    org: Org, login: Login, *, sort: str, label: str, aria: str, toggle: str
) -> None:
    response = login(org.admin).get(f"/leads/?stage=lead&sort={sort}")
    columns = {column.label: column for column in response.context["columns"]}
    assert columns[label].aria_sort == aria
    assert columns[label].url == f"/leads/?stage=lead&sort={toggle}"
    assert [c.label for c in columns.values() if c.aria_sort] == [label]
    assert f'aria-sort="{aria}"' in response.content.decode()
    assert response.content.decode().count("aria-sort=") == 1


def test_columns_sort_the_rows(org: Org, login: Login) -> None:
    for lead, score, company in (
        (org.ann_lead, 30, "beta"),
        (org.bob_lead, 10, "Alpha"),
        (org.cal_lead, 20, ""),
    ):
        Lead.objects.filter(pk=lead.pk).update(score=score, company=company)
    ada = login(org.admin)
    assert listed(ada, "sort=-score")[:3] == [org.ann_lead.pk, org.cal_lead.pk, org.bob_lead.pk]
    by_company = listed(ada, "sort=company")
    assert (
        by_company.index(org.cal_lead.pk)
        < by_company.index(org.bob_lead.pk)
        < by_company.index(org.ann_lead.pk)
    )
    by_owner = listed(ada, "sort=owner")
    assert by_owner[-2:] == sorted([org.east_pool.pk, org.west_pool.pk])  # unassigned last
    assert listed(ada, "sort=-owner")[:2] == sorted([org.east_pool.pk, org.west_pool.pk], reverse=True)


@pytest.mark.parametrize("sort", ["owner", "-owner", "-score", "name", "company", "stage", "-created"])
def test_next_links_walk_every_lead_once(org: Org, login: Login, sort: str) -> None:
    """120 more leads with many ties and a third unassigned, walked through the page links."""
    created = timezone.now() - timedelta(days=1)
    owners = [org.ann, org.bob, None]
    Lead.objects.bulk_create(
        Lead(
            first_name=["Zoe", "amy", "Al"][i % 3],
            last_name=["Smith", "smith", ""][i % 3],
            company=["Acme", "acme", ""][i % 3],
            score=i % 4 * 10,
            stage=["lead", "mql"][i % 2],
            owner=owners[i % 3],
            team=org.east,
            created_at=created,
        )
        for i in range(120)
    )
    client = login(org.manager)
    expected = set(Lead.objects.filter(team=org.east).values_list("pk", flat=True))
    seen: list[int] = []
    url = f"/leads/?sort={sort}"
    pages = 0
    while url:
        response = client.get(url)
        seen += [lead.pk for lead in response.context["page"].items]
        assert bool(response.context["first_url"]) == (pages > 0)
        url = response.context["next_url"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected


def test_a_broken_cursor_shows_the_first_page(org: Org, login: Login) -> None:
    response = login(org.admin).get("/leads/?sort=score&cursor=WyJub3QiLCAxXQ==")
    assert response.status_code == 200
    assert "That page link is no longer valid, so here is the first page." in response.context["problems"]
    assert len(response.context["page"].items) == 5


# ---- htmx ----------------------------------------------------------------------------------------


def test_htmx_requests_swap_only_the_results(org: Org, login: Login) -> None:
    ada = login(org.admin)
    partial = ada.get("/leads/?sort=-score", headers={"HX-Request": "true"})
    html = partial.content.decode()
    assert "<html" not in html and 'id="lead-filters"' not in html
    assert "<table" in html and 'name="sort" value="-score" form="lead-filters"' in html
    assert "HX-Request" in partial["Vary"]
    restore = ada.get("/leads/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()
    full = ada.get("/leads/").content.decode()
    assert 'hx-get="/leads/"' in full and 'hx-push-url="true"' in full and "htmx-indicator" in full


def test_empty_results_say_so(org: Org, login: Login) -> None:
    html = login(org.ann).get("/leads/?q=nobody-by-that-name").content.decode()
    assert "No leads match" in html and "<table" not in html


# ---- saved views ---------------------------------------------------------------------------------


def test_personal_views_are_mine_alone(org: Org, login: Login) -> None:
    ann = login(org.ann)
    saved = ann.post(
        "/leads/views/", {"name": "My MQLs", "query": "stage=mql&sort=-score&cursor=abc&evil=1"}, follow=True
    )
    view = SavedView.objects.get()
    assert (view.owner, view.shared, view.querystring) == (org.ann, False, "stage=mql&sort=-score")
    assert saved.redirect_chain[-1][0] == "/leads/?stage=mql&sort=-score"
    assert "View “My MQLs” saved." in messages_of(saved)
    assert [v.name for v in saved.context["my_views"]] == ["My MQLs"]

    again = ann.post("/leads/views/", {"name": "My MQLs", "query": "stage=sql", "shared": "1"}, follow=True)
    assert "View “My MQLs” updated." in messages_of(again)
    assert SavedView.objects.get().querystring == "stage=sql"

    bob_page = login(org.bob).get("/leads/")
    assert bob_page.context["my_views"] == [] and [v.name for v in bob_page.context["shared_views"]] == [
        "My MQLs"
    ]
    SavedView.objects.update(shared=False)
    assert login(org.bob).get("/leads/").context["shared_views"] == []


def test_shared_views_are_for_everyone_but_still_show_only_what_each_may_see(org: Org, login: Login) -> None:
    login(org.manager).post("/leads/views/", {"name": "East", "query": f"team={org.east.pk}", "shared": "1"})
    view = SavedView.objects.get()
    for user in (org.ann, org.cal, org.marketing):
        page = login(user).get("/leads/")
        assert [v.name for v in page.context["shared_views"]] == ["East"]
        assert f'href="/leads/?team={org.east.pk}"' in page.content.decode()
    assert set(listed(login(org.ann), view.querystring)) == {org.ann_lead.pk, org.east_pool.pk}
    assert listed(login(org.cal), view.querystring) == []


def test_only_the_owner_deletes_a_view(org: Org, login: Login) -> None:
    login(org.ann).post("/leads/views/", {"name": "Mine", "query": "", "shared": "1"})
    view = SavedView.objects.get()
    assert login(org.bob).post(f"/leads/views/{view.pk}/delete/").status_code == 404
    assert login(org.admin).post(f"/leads/views/{view.pk}/delete/").status_code == 404
    deleted = login(org.ann).post(f"/leads/views/{view.pk}/delete/", {"query": "stage=lead"}, follow=True)
    assert deleted.redirect_chain[-1][0] == "/leads/?stage=lead"
    assert "View “Mine” deleted." in messages_of(deleted)
    assert not SavedView.objects.exists()


def test_a_view_needs_a_name(org: Org, login: Login) -> None:
    response = login(org.ann).post("/leads/views/", {"name": "  ", "query": "stage=lead"}, follow=True)
    assert "Give the view a name." in messages_of(response)
    assert not SavedView.objects.exists()


# ---- bulk actions --------------------------------------------------------------------------------


def test_bulk_assign_ignores_leads_out_of_reach(org: Org, login: Login) -> None:
    response = bulk(
        login(org.ann),
        "assign",
        [org.east_pool.pk, org.bob_lead.pk, org.cal_lead.pk],
        owner=str(org.ann.pk),
        query="stage=lead",
    )
    assert response.redirect_chain[-1][0] == "/leads/?stage=lead"
    assert messages_of(response) == ["2 leads were not changed: not found.", "Assigned 1 lead to Ann."]
    assert Lead.objects.get(pk=org.east_pool.pk).owner == org.ann
    assert Lead.objects.get(pk=org.bob_lead.pk).owner == org.bob
    assert Lead.objects.get(pk=org.cal_lead.pk).owner == org.cal


def test_bulk_assign_only_to_people_i_may_assign_to(org: Org, login: Login) -> None:
    response = bulk(login(org.ann), "assign", [org.ann_lead.pk], owner=str(org.cal.pk))
    assert any(message.startswith("Assign to:") for message in messages_of(response))
    assert Lead.objects.get(pk=org.ann_lead.pk).owner == org.ann
    User.objects.filter(pk=org.bob.pk).update(first_name="Bob {boss}")
    assigned = bulk(login(org.ann), "assign", [org.ann_lead.pk], owner=str(org.bob.pk))
    assert messages_of(assigned) == ["Assigned 1 lead to Bob {boss}."]
    assert Lead.objects.get(pk=org.ann_lead.pk).owner == org.bob


def test_bulk_stage_change_needs_a_reason_to_go_back(org: Org, login: Login) -> None:
    mia = login(org.manager)
    two = [org.ann_lead.pk, org.bob_lead.pk]
    forward = bulk(mia, "stage", two, stage="sql")
    assert messages_of(forward) == ["Moved 2 leads to SQL."]
    back = bulk(mia, "stage", [*two, org.cal_lead.pk], stage="lead")
    assert messages_of(back) == [
        "1 lead was not changed: not found.",
        "Annlead: Moving from sql to lead is a step back and needs a reason.",
        "Boblead: Moving from sql to lead is a step back and needs a reason.",
    ]
    assert set(Lead.objects.filter(pk__in=two).values_list("stage", flat=True)) == {"sql"}
    with_reason = bulk(mia, "stage", two, stage="lead", reason="Budget frozen")
    assert messages_of(with_reason) == ["Moved 2 leads to Lead."]
    assert (
        StageTransition.objects.filter(lead_id__in=two, to_value="lead", reason="Budget frozen").count() == 2
    )
    assert Lead.objects.get(pk=org.cal_lead.pk).stage == "lead"


def test_bulk_status_change(org: Org, login: Login) -> None:
    response = bulk(
        login(org.cal), "status", [org.cal_lead.pk, org.west_pool.pk, org.ann_lead.pk], status="attempting"
    )
    assert messages_of(response) == [
        "1 lead was not changed: not found.",
        "Set 2 leads to Attempting contact.",
    ]
    assert set(Lead.objects.filter(team=org.west).values_list("status", flat=True)) == {"attempting"}
    assert Lead.objects.get(pk=org.ann_lead.pk).status == "new"


def test_bulk_note(org: Org, login: Login) -> None:
    meg = login(org.marketing)
    response = bulk(meg, "note", [org.ann_lead.pk, org.cal_lead.pk], note="Met at the trade fair")
    assert messages_of(response) == ["Added the note to 2 leads."]
    notes = Activity.objects.filter(kind="note", summary="Met at the trade fair", actor=org.marketing)
    assert set(notes.values_list("lead_id", flat=True)) == {org.ann_lead.pk, org.cal_lead.pk}
    empty = bulk(meg, "note", [org.ann_lead.pk], note="")
    assert messages_of(empty) == ["Note: This is needed for the chosen action."]


def test_bulk_without_a_selection_or_with_junk(org: Org, login: Login) -> None:
    ann = login(org.ann)
    assert messages_of(bulk(ann, "status", [], status="connected")) == ["Select at least one lead first."]
    junk = bulk(ann, "status", ["abc", "-1", str(10**30), org.ann_lead.pk], status="connected")
    assert messages_of(junk) == ["3 leads were not changed: not found.", "Set 1 lead to Connected."]
    assert messages_of(bulk(ann, "explode", [org.ann_lead.pk]))[0].startswith("Select a valid choice")
    assert ann.get("/leads/bulk/").status_code == 405


def test_bulk_export_of_selected_rows(org: Org, login: Login) -> None:
    Lead.objects.filter(pk=org.ann_lead.pk).update(
        last_name="Lee", phone="+15551234567", job_title='=HYPERLINK("http://x")', country="US", score=42
    )
    response = login(org.ann).post(
        "/leads/bulk/", {"ids": [org.ann_lead.pk, org.bob_lead.pk, org.cal_lead.pk], "bulk-action": "export"}
    )
    rows = csv_rows(response)
    assert [int(row["id"]) for row in rows] == [org.ann_lead.pk]
    row = rows[0]
    assert row == {
        "id": str(org.ann_lead.pk),
        "first_name": "Annlead",
        "last_name": "Lee",
        "email": "annlead@example.com",
        "phone": "+15551234567",
        "company": "Acme",
        "job_title": '\'=HYPERLINK("http://x")',  # never a live formula in a spreadsheet
        "country": "US",
        "stage": "lead",
        "status": "new",
        "score": "42",
        "owner": "Ann",
        "team": "East",
        "source": row["source"],
        "created_at": Lead.objects.get(pk=org.ann_lead.pk).created_at.isoformat(),
    }


def test_export_all_matching_follows_the_filters_and_sort(org: Org, login: Login) -> None:
    Lead.objects.filter(pk=org.bob_lead.pk).update(score=70)
    Lead.objects.filter(pk=org.ann_lead.pk).update(score=60)
    mia = login(org.manager)
    rows = csv_rows(mia.get("/leads/export.csv?score_min=50&sort=-score"))
    assert [int(row["id"]) for row in rows] == [org.bob_lead.pk, org.ann_lead.pk]
    everything = csv_rows(mia.get("/leads/export.csv"))
    assert {row["team"] for row in everything} == {"East"}
    refused = mia.get("/leads/export.csv?score_min=lots", follow=True)
    assert "Nothing was exported: fix the filters first." in messages_of(refused)


def test_managers_and_marketing_act_within_their_reach(org: Org, login: Login) -> None:
    mia = bulk(login(org.manager), "status", [org.bob_lead.pk, org.cal_lead.pk], status="connected")
    assert messages_of(mia) == ["1 lead was not changed: not found.", "Set 1 lead to Connected."]
    meg = bulk(login(org.marketing), "status", [org.cal_lead.pk, org.west_pool.pk], status="connected")
    assert messages_of(meg) == ["Set 2 leads to Connected."]
    assert Lead.objects.filter(status="connected").count() == 3


# ---- queries -------------------------------------------------------------------------------------


def test_list_queries_do_not_grow_with_the_rows(
    org: Org, login: Login, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    mia = login(org.manager)

    def queries(query: str) -> int:
        with CaptureQueriesContext(connection) as context:
            assert mia.get(f"/leads/?{query}").status_code == 200
        return len(context)

    before = queries("sort=owner")
    source = Source.objects.create(name="Fair")
    Lead.objects.bulk_create(
        Lead(first_name=f"N{i}", owner=[org.ann, org.bob, None][i % 3], team=org.east, source=source)
        for i in range(40)
    )
    assert queries("sort=owner") == before
    with django_assert_max_num_queries(12):
        mia.get("/leads/?sort=-score&stage=lead")
    with django_assert_max_num_queries(10):
        mia.get("/leads/?sort=name", headers={"HX-Request": "true"})
