"""Shared fixtures: a default team with reps, API keys, and an API client."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from leadflow.access.models import Team, User
from leadflow.access.services import api_key_create, team_create, team_member_add, user_create


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Real hashing costs a second per user; tests don't need its strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, role: str = "rep", team: Team | None = None, **extra: Any) -> User:
        return user_create(
            username=username,
            password="correct-horse-battery",
            role=role,
            email=f"{username}@example.com",
            teams=[team] if team else [],
            **extra,
        )

    return make


@pytest.fixture
def sales_team(make_user: Callable[..., User]) -> Team:
    """The default team with three reps, rep1 < rep2 < rep3 by id."""
    team = team_create(name="Sales", is_default=True)
    for name in ("rep1", "rep2", "rep3"):
        team_member_add(team=team, user=make_user(name))
    return team


class ApiClient:
    """A test client that speaks JSON to /api/v1 with a bearer key."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else None
        return getattr(self.client, method)(
            f"/api/v1{path}", data=data, content_type="application/json", headers={**self.headers, **headers}
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.request("post", path, body, **headers)

    def patch(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.request("patch", path, body, **headers)


@pytest.fixture
def api(db: None) -> ApiClient:
    """A client with an unbound key holding every scope."""
    return ApiClient(api_key_create(name="test", scopes=["admin"]).secret)


@pytest.fixture
def api_with_scopes(db: None) -> Callable[..., ApiClient]:
    def make(*scopes: str, user: User | None = None) -> ApiClient:
        return ApiClient(api_key_create(name="scoped", scopes=list(scopes), user=user).secret)

    return make
