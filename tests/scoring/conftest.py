"""Helpers for scoring tests: rules made through the service, leads captured through the intake flow."""

from collections.abc import Callable
from typing import Any

import pytest

from leadflow.scoring.models import ScoringRule
from leadflow.scoring.services import rule_create
from tests.web.conftest import login, org  # noqa: F401  (the web fixtures, for the scoring screens)


@pytest.fixture
def make_rule(db: None) -> Callable[..., ScoringRule]:
    def make(
        name: str, condition: dict[str, Any], points: int, kind: str = "fit", **options: Any
    ) -> ScoringRule:
        return rule_create(
            values={"name": name, "kind": kind, "condition": condition, "points": points, **options},
            actor=None,
        )

    return make


CEO = {"field": "job_title", "op": "contains", "value": "ceo"}
INTERN = {"field": "job_title", "op": "contains", "value": "intern"}
PRICING = {
    "all": [
        {"field": "kind", "op": "eq", "value": "page_view"},
        {"field": "path", "op": "eq", "value": "/pricing"},
    ]
}
WHITEPAPER = {"field": "event", "op": "eq", "value": "whitepaper_download"}
