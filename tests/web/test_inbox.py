"""The inbox (home page): new leads with their response clock, today's follow-ups, hot leads, the pool."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadflow.access.models import User
from leadflow.leads.models import Lead, Task
from leadflow.web.lead_list import RESPONSE_LATE_AFTER, end_of_today, response_clock
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db


def block(html: str, title: str) -> str:
    """The HTML of the inbox card whose heading is `title`."""
    start = html.index(f">{title}")
    end = html.find("</section>", start)
    return html[start:end]


def test_the_inbox_is_the_home_page_and_needs_sign_in(client: Client, org: Org) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_new_leads_show_their_response_clock_newest_assignment_first(
    org: Org, login: Callable[[User], Client]
) -> None:
    now = timezone.now()
    Lead.objects.filter(pk=org.ann_lead.pk).update(assigned_at=now - timedelta(minutes=12, seconds=5))
    waiting = Lead.objects.create(
        first_name="Wanda", owner=org.ann, team=org.east, assigned_at=now - timedelta(hours=2, minutes=5)
    )
    Lead.objects.create(
        first_name="Answered", owner=org.ann, team=org.east, assigned_at=now, first_response_at=now
    )

    html = block(login(org.ann).get("/").content.decode(), "New leads assigned to me")
    assert html.index("Annlead") < html.index("Wanda")
    assert '<span class="badge">12 min</span>' in html
    assert '<span class="badge late">2 h 5 min · late</span>' in html
    assert f'href="/leads/{waiting.pk}/"' in html
    assert "Answered" not in html and "Boblead" not in html


def test_response_clock_turns_late_after_the_threshold() -> None:
    assigned = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    assert response_clock(since=assigned, now=assigned + timedelta(seconds=20)).text == "<1 min"
    assert response_clock(since=assigned, now=assigned + RESPONSE_LATE_AFTER).late is False
    late = response_clock(since=assigned, now=assigned + RESPONSE_LATE_AFTER + timedelta(minutes=1))
    assert late.late is True and late.text == "1 h 1 min"
    assert response_clock(since=assigned, now=assigned + timedelta(days=3, hours=4)).text == "3 d 4 h"


def test_end_of_today_is_midnight_in_the_users_zone() -> None:
    now = datetime(2024, 3, 10, 20, 0, tzinfo=UTC)  # 10 March: the US moves its clocks forward
    assert end_of_today(zone=ZoneInfo("UTC"), now=now) == datetime(2024, 3, 11, tzinfo=UTC)
    kiritimati = end_of_today(zone=ZoneInfo("Pacific/Kiritimati"), now=now)  # UTC+14: already 11 March
    assert kiritimati == datetime(2024, 3, 11, 10, 0, tzinfo=UTC)
    los_angeles = end_of_today(zone=ZoneInfo("America/Los_Angeles"), now=now)  # noon, in summer time now
    assert los_angeles == datetime(2024, 3, 11, 7, 0, tzinfo=UTC)


def test_follow_ups_due_today_in_my_time_zone(org: Org, login: Callable[[User], Client]) -> None:
    Task.objects.all().delete()
    org.ann.timezone = "Pacific/Kiritimati"
    org.ann.save()
    zone = ZoneInfo("Pacific/Kiritimati")
    now = timezone.now()
    midnight = end_of_today(zone=zone, now=now)
    lead = org.ann_lead
    Task.objects.create(
        lead=lead, assignee=org.ann, title="Call back", due_at=midnight - timedelta(minutes=1)
    )
    Task.objects.create(lead=lead, assignee=org.ann, title="Send deck", due_at=now - timedelta(days=2))
    Task.objects.create(
        lead=lead, assignee=org.ann, title="Tomorrow's", due_at=midnight + timedelta(minutes=1)
    )
    Task.objects.create(lead=lead, assignee=org.ann, title="Done", due_at=now, done_at=now)
    Task.objects.create(lead=org.bob_lead, assignee=org.bob, title="Bob's task", due_at=now)

    html = block(login(org.ann).get("/").content.decode(), "Follow-ups due today")
    assert "Call back" in html and "Send deck" in html
    assert "Tomorrow's" not in html and "Done" not in html and "Bob's task" not in html
    assert html.index("Send deck") < html.index("Call back")  # the most overdue first
    assert '<span class="badge">23:59</span>' in html  # shown in Ann's time, not UTC
    assert html.count("badge late") == 1 and "Overdue" in html


def test_follow_ups_due_today_end_at_the_users_own_midnight(
    org: Org, login: Callable[[User], Client]
) -> None:
    """A task due between UTC's midnight and Kiritimati's (UTC+14) is today for one user only."""
    Task.objects.all().delete()
    now = timezone.now()
    ends = {zone: end_of_today(zone=ZoneInfo(zone), now=now) for zone in ("UTC", "Pacific/Kiritimati")}
    earlier, later = sorted(ends, key=ends.__getitem__)  # which day ends first depends on the hour
    Task.objects.create(
        lead=org.ann_lead, assignee=org.ann, title="Edge", due_at=ends[earlier] + timedelta(hours=1)
    )
    for zone, expected in ((earlier, False), (later, True)):
        org.ann.timezone = zone
        org.ann.save()
        assert ("Edge" in block(login(org.ann).get("/").content.decode(), "Follow-ups due today")) is expected


@pytest.mark.parametrize(
    ("setting", "shown", "hidden"), [(None, ["Sixty", "Fifty"], ["Nine"]), (60, ["Sixty"], ["Fifty"])]
)
def test_hot_leads_from_the_threshold_up(
    org: Org,
    login: Callable[[User], Client],
    settings: object,
    *,
    setting: int | None,
    shown: list[str],
    hidden: list[str],
) -> None:
    if setting is not None:
        settings.LEADFLOW_HOT_SCORE = setting  # type: ignore[attr-defined]
    for name, score in (("Sixty", 60), ("Fifty", 50), ("Nine", 49)):
        Lead.objects.create(first_name=name, owner=org.ann, team=org.east, score=score)
    html = block(login(org.ann).get("/").content.decode(), "Hot leads")
    for name in shown:
        assert name in html
    for name in hidden:
        assert name not in html
    assert f"score {setting or 50}+" in html


def test_hot_leads_are_only_those_i_can_see_top_ten(org: Org, login: Callable[[User], Client]) -> None:
    Lead.objects.filter(pk=org.bob_lead.pk).update(score=90)
    Lead.objects.filter(pk=org.cal_lead.pk).update(score=80)
    Lead.objects.filter(pk=org.east_pool.pk).update(score=70)
    for i in range(12):
        Lead.objects.create(first_name=f"Filler{i:02d}", owner=org.ann, team=org.east, score=51 + i)

    def hot(username: str) -> str:
        return block(login(User.objects.get(username=username)).get("/").content.decode(), "Hot leads")

    ann = hot("ann")
    assert "Boblead" not in ann and "Callead" not in ann
    assert "Eastpool" in ann  # her team's pool is hers to see
    assert ann.count("badge hot") == 10 and "Filler00" not in ann
    mia = hot("mia")
    assert "Boblead" in mia and "Callead" not in mia
    for username in ("meg", "ada"):
        assert "Boblead" in hot(username) and "Callead" in hot(username)


def test_take_a_lead_from_my_teams_pool(org: Org, login: Callable[[User], Client]) -> None:
    ann = login(org.ann)
    pool = block(ann.get("/").content.decode(), "Unassigned pool")
    assert "Eastpool" in pool and "Westpool" not in pool
    assert f'action="/inbox/pool/{org.east_pool.pk}/take/"' in pool

    assert ann.get(f"/inbox/pool/{org.east_pool.pk}/take/").status_code == 405
    taken = ann.post(f"/inbox/pool/{org.east_pool.pk}/take/", follow=True)
    assert taken.redirect_chain[-1][0] == "/"
    assert "is yours now" in taken.content.decode()
    lead = Lead.objects.get(pk=org.east_pool.pk)
    assert lead.owner == org.ann and lead.assigned_at is not None
    assert lead.activities.filter(kind="assignment", actor=org.ann).exists()
    assert "Eastpool" in block(taken.content.decode(), "New leads assigned to me")

    # taken meanwhile, another team's pool, someone else's lead: all out of reach
    assert login(org.bob).post(f"/inbox/pool/{org.east_pool.pk}/take/").status_code == 404
    assert ann.post(f"/inbox/pool/{org.west_pool.pk}/take/").status_code == 404
    assert ann.post(f"/inbox/pool/{org.bob_lead.pk}/take/").status_code == 404
    assert ann.post("/inbox/pool/999999/take/").status_code == 404
    assert Lead.objects.get(pk=org.west_pool.pk).owner is None
    assert Lead.objects.get(pk=org.bob_lead.pk).owner == org.bob


def test_a_manager_can_take_from_the_pool_too(org: Org, login: Callable[[User], Client]) -> None:
    assert login(org.manager).post(f"/inbox/pool/{org.east_pool.pk}/take/").status_code == 302
    assert Lead.objects.get(pk=org.east_pool.pk).owner == org.manager


def test_every_block_has_an_empty_state(
    org: Org, login: Callable[[User], Client], make_user: Callable[..., User]
) -> None:
    html = login(make_user("newbie")).get("/").content.decode()
    for text in ("No new leads waiting", "Nothing due today", "No hot leads", "The pool is empty"):
        assert text in html


def test_the_new_leads_block_refreshes_alone(org: Org, login: Callable[[User], Client]) -> None:
    response = login(org.ann).get("/?block=new", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.startswith('<section id="inbox-new"') and "Annlead" in html
    assert "<html" not in html and "Unassigned pool" not in html
    assert "HX-Request" in response["Vary"]


def test_inbox_queries_do_not_grow_with_its_content(
    org: Org, login: Callable[[User], Client], django_assert_max_num_queries: Callable[..., object]
) -> None:
    ann = login(org.ann)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert ann.get("/").status_code == 200
        return len(context)

    before = queries()
    now = timezone.now()
    for i in range(5):
        lead = Lead.objects.create(
            first_name=f"More{i}", owner=org.ann, team=org.east, score=90, assigned_at=now
        )
        Task.objects.create(lead=lead, assignee=org.ann, title="Call", due_at=now)
        Lead.objects.create(first_name=f"Pool{i}", team=org.east)
    assert queries() == before
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        ann.get("/")
