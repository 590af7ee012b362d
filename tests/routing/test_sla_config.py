"""SLA and notification settings through the API and the routing screens; notifications over the API."""

from collections.abc import Callable

from django.test import Client

from leadflow.access.models import Team, User
from leadflow.routing.models import TeamRouting, WebhookEndpoint
from leadflow.routing.notifications import notification_send
from tests.conftest import ApiClient
from tests.web.conftest import Org

Login = Callable[[User], Client]


def test_team_sla_over_the_api(api: ApiClient, sales_team: Team) -> None:
    body = {"method": "round_robin", "sla_minutes": 5, "sla_reminder_minutes": 2, "breach_action": "record"}
    saved = api.request("put", f"/routing/teams/{sales_team.pk}", body)
    assert saved.status_code == 200, saved.json()
    read = api.get(f"/routing/teams/{sales_team.pk}").json()
    assert (read["sla_minutes"], read["sla_reminder_minutes"], read["breach_action"]) == (5, 2, "record")
    bad = api.request(
        "put",
        f"/routing/teams/{sales_team.pk}",
        {"sla_minutes": 5, "sla_reminder_minutes": 9, "breach_action": "escalate"},
    )
    assert bad.status_code == 422
    assert {tuple(item["loc"]) for item in bad.json()["detail"]} == {
        ("body", "sla_reminder_minutes"),
        ("body", "breach_action"),
    }


def test_webhooks_over_the_api(api: ApiClient, sales_team: Team) -> None:
    made = api.request("put", "/routing/webhook", {"url": "https://chat.example.com/hook"})
    assert made.status_code == 200 and len(made.json()["secret"]) == 64
    team = api.request("put", f"/routing/teams/{sales_team.pk}/webhook", {"url": "https://t.example.com/"})
    assert team.json()["team_id"] == sales_team.pk
    assert api.request("put", "/routing/webhook", {"url": "ftp://x"}).status_code == 422
    assert api.request("put", "/routing/webhook", {"url": ""}).status_code == 204
    assert list(WebhookEndpoint.objects.values_list("team_id", flat=True)) == [sales_team.pk]


def test_notifications_over_the_api(api_with_scopes: Callable[..., ApiClient], sales_team: Team) -> None:
    rep = User.objects.get(username="rep1")
    first = notification_send(recipient=rep, title="First")
    notification_send(recipient=rep, title="Second")
    notification_send(recipient=User.objects.get(username="rep2"), title="Not yours")
    mine = api_with_scopes("read", user=rep)
    assert [n["title"] for n in mine.get("/notifications").json()] == ["Second", "First"]
    assert mine.post("/notifications/read", {"ids": [first.pk]}).json() == {"marked": 1}
    assert [n["title"] for n in mine.get("/notifications", unread="true").json()] == ["Second"]
    assert api_with_scopes("read").get("/notifications").status_code == 403  # a system key has no inbox


def test_team_page_saves_the_sla_and_webhook(org: Org, login: Login) -> None:
    client = login(org.manager)
    response = client.post(
        f"/routing/teams/{org.east.pk}/",
        {
            "method": "round_robin",
            "fallback": "pool",
            "sla_minutes": "5",
            "sla_reminder_minutes": "2",
            "breach_action": "escalate",
            "max_reassignments": "1",
            "webhook_url": "https://chat.example.com/east",
        },
    )
    assert response.status_code == 302
    settings = TeamRouting.objects.get(team=org.east)
    assert (settings.sla_minutes, settings.sla_reminder_minutes, settings.breach_action) == (5, 2, "escalate")
    assert WebhookEndpoint.objects.get(team=org.east).url == "https://chat.example.com/east"
    page = client.get(f"/routing/teams/{org.east.pk}/").content.decode()
    assert "Response SLA" in page and "Signing secret" in page
    bad = client.post(
        f"/routing/teams/{org.east.pk}/",
        {"method": "round_robin", "fallback": "pool", "sla_minutes": "5", "sla_reminder_minutes": "7"},
    )
    assert "The reminder comes before the deadline" in bad.content.decode()


def test_admin_sets_the_global_webhook(org: Org, login: Login) -> None:
    client = login(org.admin)
    client.post("/routing/settings/", {"webhook_url": "https://chat.example.com/all"})
    assert WebhookEndpoint.objects.get(team=None).url == "https://chat.example.com/all"
    assert "Signing secret" in client.get("/routing/").content.decode()
    client.post("/routing/settings/", {"webhook_url": ""})
    assert not WebhookEndpoint.objects.exists()
