"""`leadflow apikey` and `leadflow user`: thin commands over the access services."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from leadflow.access.models import ApiKey, Role, Team, User
from leadflow.access.services import team_create
from leadflow.capture.models import Submission, SubmissionStatus

Run = Callable[..., str]


def get_leads(key: str) -> int:
    return Client().get("/api/v1/leads", headers={"Authorization": f"Bearer {key}"}).status_code


def test_apikey_create_prints_a_working_key_alone_on_the_last_line(run: Run) -> None:
    out = run("apikey", "create", "--name", "Website form", "--scope", "read", "--scope", "capture")

    key = out.splitlines()[-1]
    api_key = ApiKey.objects.get()
    assert key.startswith(f"lf_{api_key.prefix}_") and " " not in key
    assert "Website form" in out and api_key.prefix in out
    assert api_key.scopes == ["capture", "read"] and api_key.user is None
    assert get_leads(key) == 200


def test_apikey_revoke_stops_the_key(run: Run) -> None:
    key = run("apikey", "create", "--name", "CI", "--scope", "read").splitlines()[-1]
    prefix = ApiKey.objects.get().prefix

    out = run("apikey", "revoke", prefix)

    assert f"Revoked API key 'CI' (prefix {prefix})" in out
    assert ApiKey.objects.get().revoked_at is not None
    assert get_leads(key) == 401


def test_apikey_bound_to_a_user(run: Run) -> None:
    run("user", "create", "--username", "rita", "--password", "a-long-password", "--role", "rep")

    out = run("apikey", "create", "--name", "Rita's script", "--scope", "read", "--user", "rita")

    assert ApiKey.objects.get().user == User.objects.get(username="rita")
    assert "acting as rita" in out
    assert get_leads(out.splitlines()[-1]) == 200


def test_apikey_list_shows_keys_without_secrets(run: Run) -> None:
    assert "No API keys yet" in run("apikey", "list")
    secret = run("apikey", "create", "--name", "Zapier", "--scope", "capture").splitlines()[-1]
    run("apikey", "create", "--name", "Old import", "--scope", "admin")
    old = ApiKey.objects.get(name="Old import")
    run("apikey", "revoke", old.prefix)

    lines = run("apikey", "list").splitlines()

    assert lines[0].split() == ["NAME", "PREFIX", "SCOPES", "USER", "LAST", "USED", "REVOKED"]
    zapier, revoked = lines[1], lines[2]
    assert "Zapier" in zapier and ApiKey.objects.get(name="Zapier").prefix in zapier and "capture" in zapier
    assert "never" in zapier and zapier.endswith("no")
    assert "Old import" in revoked and "UTC" in revoked and not revoked.endswith("no")
    assert secret not in "\n".join(lines)


def test_apikey_last_used_is_listed(run: Run) -> None:
    secret = run("apikey", "create", "--name", "Reader", "--scope", "read").splitlines()[-1]
    assert get_leads(secret) == 200

    row = run("apikey", "list").splitlines()[1]

    assert "never" not in row and "UTC" in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--scope", "everything"], "invalid choice: 'everything'"),
        (["create", "--name", "x"], "--scope"),
        (["create", "--name", "x", "--scope", "read", "--user", "ghost"], "No user is called 'ghost'"),
        (["revoke", "deadbeef"], "No API key has the prefix 'deadbeef'"),
        ([], "required: {create,list,revoke}"),
    ],
)
def test_apikey_bad_input_is_a_clear_command_error(run: Run, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("{", r"\{").replace("}", r"\}")):
        run("apikey", *args)
    assert not ApiKey.objects.exists()


def test_user_create_with_teams(run: Run) -> None:
    inbound, emea = team_create(name="Inbound"), team_create(name="EMEA")

    out = run(
        "user", "create", "--username", "nina", "--password", "purple-monkey-dishwasher", "--role", "manager",
        "--email", "nina@example.com", "--first-name", "Nina", "--last-name", "Berg",
        "--team", "Inbound", "--team", "EMEA",
    )  # fmt: skip

    user = User.objects.get(username="nina")
    assert out.strip() == "Created user nina (Sales manager, member of Inbound, EMEA)."
    assert (user.role, user.email, user.first_name, user.last_name) == (
        Role.MANAGER,
        "nina@example.com",
        "Nina",
        "Berg",
    )
    assert user.check_password("purple-monkey-dishwasher")
    assert not user.is_superuser
    assert set(user.teams.all()) == {inbound, emea}


def test_user_create_admin_can_use_the_admin_site(run: Run) -> None:
    run("user", "create", "--username", "root", "--password", "purple-monkey-dishwasher", "--role", "admin")

    user = User.objects.get(username="root")
    assert user.is_staff and user.is_superuser and user.role == Role.ADMIN


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--username", "taken", "--password", "purple-monkey-dishwasher", "--role", "rep"],
            "already exists",
        ),
        (
            ["--username", "u2", "--password", "purple-monkey-dishwasher", "--role", "boss"],
            "invalid choice: 'boss'",
        ),
        (["--username", "u3", "--password", "short", "--role", "rep"], "Password rejected: .*too short"),
        (
            ["--username", "u4", "--password", "purple-monkey-dishwasher", "--role", "rep", "--team", "Nope"],
            "Unknown team\\(s\\): Nope. Teams: Existing.",
        ),
        (
            [
                "--username",
                "u5",
                "--password",
                "purple-monkey-dishwasher",
                "--role",
                "rep",
                "--email",
                "nope",
            ],
            "'nope' is not a valid email address",
        ),
        (["--username", "u6", "--role", "rep"], "--password"),
    ],
)
def test_user_create_bad_input_is_a_clear_command_error(run: Run, args: list[str], message: str) -> None:
    team_create(name="Existing")
    run("user", "create", "--username", "taken", "--password", "purple-monkey-dishwasher", "--role", "rep")

    with pytest.raises(CommandError, match=message):
        run("user", "create", *args)
    assert list(User.objects.values_list("username", flat=True)) == ["taken"]
    assert list(Team.objects.values_list("name", flat=True)) == ["Existing"]


def test_recover_runs_abandoned_submissions_and_leaves_recent_ones(run: Run) -> None:
    old, recent = (
        Submission.objects.create(payload={"email": f"{name}@example.com"}, received_at=timezone.now() - age)
        for name, age in (("old", timedelta(minutes=10)), ("recent", timedelta(seconds=10)))
    )

    assert run("recover").strip() == f"Recovered 1 submission(s): {old.pk}."
    assert Submission.objects.get(pk=old.pk).status == SubmissionStatus.PROCESSED
    assert Submission.objects.get(pk=recent.pk).status == SubmissionStatus.RECEIVED
    assert run("recover", "--older-than", "0").strip() == f"Recovered 1 submission(s): {recent.pk}."
    assert run("recover").strip() == "Recovered 0 submission(s)."
