"""The manager dashboard: who may see it, whose leads it counts, the period and the page's cost."""

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from leadflow.access.models import User
from leadflow.capture.services import lead_capture
from leadflow.leads.models import ActivityKind, Lead, Source, Stage
from leadflow.leads.services import activity_create, lead_stage_change
from leadflow.routing.services import lead_assign
from leadflow.web.dashboard_views import duration_label
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db


def chart_data(page: object, element_id: str) -> dict[str, list[object]]:
    html = page.content.decode()  # type: ignore[attr-defined]
    start = html.index(f'id="{element_id}"')
    return json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])  # type: ignore[no-any-return]


def test_reps_get_404_and_strangers_sign_in(
    org: Org, login: Callable[[User], Client], client: Client
) -> None:
    assert login(org.ann).get("/dashboard/").status_code == 404
    assert login(org.cal).get("/dashboard/").status_code == 404
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_manager_counts_only_their_teams_leads(org: Org, login: Callable[[User], Client]) -> None:
    lead_stage_change(lead=org.ann_lead, stage=Stage.MQL, actor=org.ann)
    lead_stage_change(lead=org.cal_lead, stage=Stage.SQL, actor=org.cal)
    activity_create(
        lead=org.ann_lead,
        kind=ActivityKind.CALL,
        actor=org.ann,
        occurred_at=org.ann_lead.assigned_at + timedelta(minutes=20),  # type: ignore[operator]
    )
    activity_create(
        lead=org.cal_lead,
        kind=ActivityKind.CALL,
        actor=org.cal,
        occurred_at=org.cal_lead.assigned_at + timedelta(hours=3),  # type: ignore[operator]
    )

    page = login(org.manager).get("/dashboard/")

    assert page.status_code == 200
    figures = page.context["figures"]
    assert figures.teams == ["East"]
    assert (figures.total, figures.unassigned, figures.this_week) == (3, 1, 3)
    assert {row.stage: row.leads for row in figures.by_stage if row.leads} == {"lead": 2, "mql": 1}
    assert [(row.name, row.leads, row.cost) for row in figures.by_source] == [("No source", 3, None)]
    response = figures.response  # ann's and bob's leads are assigned; only ann's was answered, in 20 min
    assert (response.assigned, response.responded, response.within_hour) == (2, 1, 1)
    assert page.context["median_response"] == "20 min"
    assert figures.quarantined is None and b"Quarantined" not in page.content
    assert b"Leads of East" in page.content
    assert b'href="/leads/?owner=none"' in page.content
    unassigned = login(org.manager).get("/leads/?owner=none")
    assert [lead.pk for lead in unassigned.context["page"].items] == [org.east_pool.pk], "the link lists them"


def test_marketing_and_admins_see_everything(org: Org, login: Callable[[User], Client]) -> None:
    lead_capture(payload={"email": "not-an-email"})
    ads = Source.objects.create(name="Ads", cost=400)
    Lead.objects.filter(pk__in=[org.ann_lead.pk, org.cal_lead.pk]).update(source=ads)

    for viewer in (org.marketing, org.admin):
        page = login(viewer).get("/dashboard/")
        figures = page.context["figures"]
        assert (figures.total, figures.unassigned, figures.quarantined, figures.teams) == (5, 2, 1, [])
        assert [(row.name, row.leads, row.cost_per_lead) for row in figures.by_source] == [
            ("No source", 3, None),
            ("Ads", 2, 200),
        ]
        assert b"All leads" in page.content and b"Quarantined submissions" in page.content
        assert b"200.00" in page.content, "cost per lead is shown to those who see every lead"


def test_charts_get_their_numbers_and_a_text_alternative(org: Org, login: Callable[[User], Client]) -> None:
    page = login(org.marketing).get("/dashboard/")

    stages = chart_data(page, "stage-data")
    assert stages["labels"] == [label for _, label in Stage.choices]
    assert stages["values"] == [0, 5, 0, 0, 0, 0, 0, 0]
    assert chart_data(page, "source-data") == {"labels": ["No source"], "values": [5]}
    html = page.content.decode()
    assert html.count("<canvas") == 2 and html.count('role="img"') == 2
    assert '<th scope="row">Lead</th><td class="num">5</td>' in html, "the numbers are also in a table"
    assert "web/vendor/chart.umd.min.js" in html


def test_the_period_selector(org: Org, login: Callable[[User], Client]) -> None:
    Lead.objects.filter(pk=org.ann_lead.pk).update(created_at=timezone.now() - timedelta(days=40))
    Lead.objects.filter(pk=org.bob_lead.pk).update(created_at=timezone.now() - timedelta(days=10))
    client = login(org.manager)

    def in_period(days: str) -> int:
        page = client.get("/dashboard/", {"days": days})
        return sum(row.leads for row in page.context["figures"].by_stage)

    assert (in_period("7"), in_period("30"), in_period("90")) == (1, 2, 3)
    assert in_period("12") == in_period("nonsense") == in_period("") == 2, "anything else means 30 days"
    page = client.get("/dashboard/", {"days": "90"})
    assert b'href="?days=90" aria-current="page"' in page.content


def test_empty_states(org: Org, login: Callable[[User], Client]) -> None:
    Lead.objects.update(created_at=timezone.now() - timedelta(days=60))
    page = login(org.marketing).get("/dashboard/", {"days": "7"})
    assert b"No new leads in this period" in page.content and b"<canvas" not in page.content

    Lead.objects.all().delete()
    page = login(org.marketing).get("/dashboard/")
    assert b"No leads yet" in page.content and b"<canvas" not in page.content


def test_the_dashboard_costs_a_fixed_number_of_queries(
    org: Org, login: Callable[[User], Client], django_assert_max_num_queries: Callable[[int], object]
) -> None:
    sources = [Source.objects.create(name=f"Source {n}", cost=100) for n in range(5)]
    for n in range(30):
        lead = lead_capture(payload={"email": f"more{n}@example.com"}, source=sources[n % 5]).lead
        assert lead is not None
        lead_assign(lead=lead, owner=org.bob if n % 2 else org.cal, actor=None)
        activity_create(lead=lead, kind=ActivityKind.EMAIL, actor=lead.owner)
    for viewer in (org.manager, org.marketing):
        client = login(viewer)
        # 10 for the figures above, 7 for speed to lead, 1 for the notification bell.
        with django_assert_max_num_queries(18):  # type: ignore[attr-defined]
            assert client.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (42, "42 s"),
        (600, "10 min"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
        (86400 * 2, "2 d"),
        (93600, "1 d 2 h"),
    ],
)
def test_duration_labels(seconds: int, label: str) -> None:
    assert duration_label(timedelta(seconds=seconds)) == label
