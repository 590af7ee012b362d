"""Sign-in, sign-out and the navigation each role sees."""

from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client

from leadflow.access.models import User
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db


def test_pages_need_sign_in(client: Client) -> None:
    response = client.get("/leads/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_sign_in_and_out(client: Client, org: Org) -> None:
    page = client.get("/login/")
    assert page.status_code == 200 and b'autocomplete="current-password"' in page.content
    bad = client.post("/login/", {"username": "ann", "password": "wrong"})
    assert bad.status_code == 200 and b"errorlist" in bad.content
    ok = client.post("/login/", {"username": "ann", "password": "correct-horse-battery"})
    assert ok.status_code == 302
    assert client.post("/logout/").status_code == 302
    assert client.get("/leads/").status_code == 302


def test_password_reset_by_email(client: Client, org: Org, settings: object) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    response = client.post("/password-reset/", {"email": "ann@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/password-reset/" in mail.outbox[0].body
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-secret", "new_password2": "a-new-long-secret"},
    )
    assert done.status_code == 302
    assert User.objects.get(username="ann").check_password("a-new-long-secret")


@pytest.mark.parametrize(
    ("username", "sees", "hidden"),
    [
        ("ann", ["Inbox", "Leads"], ["Dashboard", "Users", "Settings"]),
        ("mia", ["Inbox", "Leads", "Dashboard"], ["Users", "Settings"]),
        ("ada", ["Inbox", "Leads", "Dashboard", "Users", "Settings"], []),
    ],
)
def test_navigation_by_role(
    org: Org, login: Callable[[User], Client], username: str, sees: list[str], hidden: list[str]
) -> None:
    from leadflow.web.context import NAVIGATION

    page = login(User.objects.get(username=username)).get("/login/", follow=True)
    nav = {item.label for item in page.context["nav_items"]}
    assert set(sees) <= nav | {label for label, name, _ in NAVIGATION if not _url_exists(name)}
    assert not (set(hidden) & nav)


def _url_exists(name: str) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True
