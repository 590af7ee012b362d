"""User management: admins list, add, edit and deactivate people; nobody else sees it."""

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from leadflow.access.models import Membership, Role, User
from leadflow.access.services import UserChangeError, user_set_active, user_update
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db

NEW_PERSON = {
    "username": "dan",
    "first_name": "Dan",
    "last_name": "Doe",
    "email": "dan@example.com",
    "role": "rep",
    "timezone": "Europe/Paris",
    "accepts_leads": "on",
}


@pytest.fixture
def admin(org: Org, login: Callable[[User], Client]) -> Client:
    return login(org.admin)


@pytest.fixture
def locmem_email(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def edit_values(person: User, **changes: Any) -> dict[str, Any]:
    """The edit form as the page fills it in, with `changes`."""
    values = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "role": person.role,
        "timezone": person.timezone,
        "teams": [team.pk for team in person.teams.all()],
        "accepts_leads": "on" if person.accepts_leads else "",
    }
    return {name: value for name, value in {**values, **changes}.items() if value not in ("", None)}


@pytest.mark.parametrize("username", ["mia", "meg", "ann"])
def test_only_admins_reach_user_management(org: Org, login: Callable[[User], Client], username: str) -> None:
    client = login(User.objects.get(username=username))
    ann = org.ann.pk
    for url in ("/users/", "/users/new/", f"/users/{ann}/"):
        assert client.get(url).status_code == 404
    for url in ("/users/new/", f"/users/{ann}/", f"/users/{ann}/active/", f"/users/{ann}/password-link/"):
        assert client.post(url, {**NEW_PERSON, "active": "0"}).status_code == 404
    org.ann.refresh_from_db()
    assert org.ann.is_active and not User.objects.filter(username="dan").exists()


def test_the_list_shows_roles_teams_and_status(
    org: Org,
    admin: Client,
    make_user: Callable[..., User],
    django_assert_max_num_queries: Callable[[int], Any],
) -> None:
    for n in range(10):
        make_user(f"extra{n}", team=org.west if n % 2 else org.east)
    user_set_active(user=org.bob, is_active=False, actor=org.admin)
    org.cal.accepts_leads = False
    org.cal.save()

    with django_assert_max_num_queries(6):  # 5 + the notification bell
        page = admin.get("/users/")

    people = {person.username: person for person in page.context["people"]}
    assert set(people) == {"ada", "meg", "mia", "ann", "bob", "cal"} | {f"extra{n}" for n in range(10)}
    html = page.content.decode()
    assert "Sales manager" in html and "manages East" in html
    assert '<span class="badge late">Inactive</span>' in html
    assert [p.username for p in page.context["people"]][-1] == "bob", "inactive people come last"

    inactive = admin.get("/users/", {"status": "inactive"})
    assert [p.username for p in inactive.context["people"]] == ["bob"]
    reps = admin.get("/users/", {"role": "rep", "q": "an"})
    assert [p.username for p in reps.context["people"]] == ["ann"]
    assert b"Nobody matches these filters" in admin.get("/users/", {"q": "zzz"}).content


def test_create_with_a_password(org: Org, admin: Client, locmem_email: None) -> None:
    response = admin.post(
        "/users/new/",
        {
            **NEW_PERSON,
            "teams": [org.east.pk, org.west.pk],
            "password1": "a-long-secret",
            "password2": "a-long-secret",
        },
    )

    assert response.status_code == 302 and response["Location"] == "/users/"
    dan = User.objects.get(username="dan")
    assert dan.check_password("a-long-secret")
    assert (dan.role, dan.timezone, dan.email, dan.get_full_name()) == (
        "rep",
        "Europe/Paris",
        "dan@example.com",
        "Dan Doe",
    )
    assert {team.name for team in dan.teams.all()} == {"East", "West"}
    assert dan.accepts_leads and not dan.is_superuser
    assert mail.outbox == []
    assert Client().login(username="dan", password="a-long-secret")


def test_create_without_a_password_emails_a_link_to_choose_one(
    org: Org, admin: Client, locmem_email: None
) -> None:
    response = admin.post("/users/new/", {**NEW_PERSON, "role": "admin", "accepts_leads": ""}, follow=True)

    assert b"a link to choose a password was emailed to dan@example.com" in response.content
    dan = User.objects.get(username="dan")
    assert dan.is_superuser and dan.is_staff and not dan.accepts_leads
    (message,) = mail.outbox
    assert message.to == ["dan@example.com"] and "account is ready" in message.subject
    link = next(line for line in message.body.splitlines() if "/password-reset/" in line)
    stranger = Client()
    form = stranger.get("/" + link.split("://", 1)[1].split("/", 1)[1], follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    stranger.post(
        form.redirect_chain[-1][0], {"new_password1": "dans-own-secret", "new_password2": "dans-own-secret"}
    )
    dan.refresh_from_db()
    assert dan.check_password("dans-own-secret")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "is not a time zone name"),
        ({"username": "ANN"}, "username", "Someone already has this username."),
        ({"username": "bad name!"}, "username", "Enter a valid username"),
        ({"email": ""}, "email", "Give an email address to send the password link to"),
        (
            {"password1": "a-long-secret", "password2": "another-secret"},
            "password2",
            "The two passwords differ.",
        ),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"role": "boss"}, "role", "Select a valid choice"),
    ],
)
def test_create_shows_errors_on_the_form(
    org: Org, admin: Client, changes: dict[str, str], field: str, message: str
) -> None:
    response = admin.post("/users/new/", {**NEW_PERSON, **changes})

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert message.encode() in response.content.replace(b"&#x27;", b"'")
    assert b'role="alert"' in response.content
    assert not User.objects.filter(username__in=["dan", "bad name!"]).exists()


def test_edit_role_teams_timezone_and_taking_leads(org: Org, admin: Client) -> None:
    page = admin.get(f"/users/{org.ann.pk}/")
    assert page.status_code == 200 and b'value="Ann"' in page.content

    response = admin.post(
        f"/users/{org.ann.pk}/",
        edit_values(org.ann, role="manager", teams=[org.west.pk], timezone="Asia/Tokyo", accepts_leads=""),
    )

    assert response.status_code == 302
    ann = User.objects.get(pk=org.ann.pk)
    assert (ann.role, ann.timezone, ann.accepts_leads) == ("manager", "Asia/Tokyo", False)
    assert list(ann.teams.values_list("name", flat=True)) == ["West"]

    admin.post(f"/users/{org.ann.pk}/", edit_values(ann, role="admin"))
    ann.refresh_from_db()
    assert ann.is_superuser and ann.is_staff, "admin rights follow the role"
    admin.post(f"/users/{org.ann.pk}/", edit_values(ann, role="marketing"))
    ann.refresh_from_db()
    assert (ann.role, ann.is_superuser, ann.is_staff) == ("marketing", False, False)


def test_edit_keeps_the_weight_of_kept_memberships(org: Org, admin: Client) -> None:
    Membership.objects.filter(user=org.bob, team=org.east).update(weight=3)
    admin.post(f"/users/{org.bob.pk}/", edit_values(org.bob, teams=[org.east.pk, org.west.pk]))
    assert dict(Membership.objects.filter(user=org.bob).values_list("team__name", "weight")) == {
        "East": 3,
        "West": 1,
    }


def test_edit_rejects_an_invalid_time_zone(org: Org, admin: Client) -> None:
    response = admin.post(f"/users/{org.ann.pk}/", edit_values(org.ann, timezone="Europe/Atlantis"))
    assert response.status_code == 200 and b"is not a time zone name" in response.content
    org.ann.refresh_from_db()
    assert org.ann.timezone == "UTC"


def test_unknown_people_are_404(org: Org, admin: Client) -> None:
    assert admin.get("/users/9999/").status_code == 404
    assert admin.post("/users/9999/active/", {"active": "0"}).status_code == 404


def test_deactivate_keeps_the_person_and_their_leads(org: Org, admin: Client) -> None:
    response = admin.post(f"/users/{org.ann.pk}/active/", {"active": "0"}, follow=True)

    assert b"Deactivated Ann; their leads keep their history." in response.content
    ann = User.objects.get(pk=org.ann.pk)
    assert not ann.is_active
    org.ann_lead.refresh_from_db()
    assert org.ann_lead.owner == ann and org.ann_lead.activities.exists()
    assert not Client().login(username="ann", password="correct-horse-battery")
    assert b"Reactivate Ann" in admin.get(f"/users/{ann.pk}/").content

    admin.post(f"/users/{ann.pk}/active/", {"active": "1"})
    ann.refresh_from_db()
    assert ann.is_active
    assert admin.get(f"/users/{ann.pk}/active/").status_code == 405


def test_an_admin_cannot_deactivate_themselves_or_drop_their_admin_role(org: Org, admin: Client) -> None:
    page = admin.get(f"/users/{org.admin.pk}/")
    assert b"You cannot deactivate yourself" in page.content and b"Deactivate Ada" not in page.content

    refused = admin.post(f"/users/{org.admin.pk}/active/", {"active": "0"}, follow=True)
    assert b"You cannot deactivate yourself" in refused.content

    admin.post(f"/users/{org.admin.pk}/", edit_values(org.admin, role="rep", timezone="Europe/Oslo"))
    ada = User.objects.get(pk=org.admin.pk)
    assert ada.is_active and ada.role == Role.ADMIN and ada.is_superuser
    assert ada.timezone == "Europe/Oslo", "the rest of the form is still saved"

    with pytest.raises(UserChangeError, match="own admin role"):
        user_update(user=ada, actor=ada, role=Role.REP)
    with pytest.raises(UserChangeError, match="deactivate yourself"):
        user_set_active(user=ada, is_active=False, actor=ada)


def test_another_admin_can_demote_an_admin(org: Org, make_user: Callable[..., User]) -> None:
    other = make_user("zoe", role="admin")
    user_update(user=org.admin, actor=other, role=Role.REP)
    org.admin.refresh_from_db()
    assert (org.admin.role, org.admin.is_superuser) == ("rep", False)


def test_email_a_password_link(org: Org, admin: Client, locmem_email: None) -> None:
    response = admin.post(f"/users/{org.ann.pk}/password-link/", follow=True)

    assert b"A link to choose a new password was emailed to ann@example.com" in response.content
    (message,) = mail.outbox
    assert message.to == ["ann@example.com"] and "/password-reset/" in message.body

    user_set_active(user=org.bob, is_active=False, actor=org.admin)
    refused = admin.post(f"/users/{org.bob.pk}/password-link/", follow=True)
    assert b"Only an active person with an email address" in refused.content and len(mail.outbox) == 1
