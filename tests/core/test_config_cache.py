"""The configuration cache: one token read per unit of work, and never a stale value, whoever writes."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leadflow.access.models import Team, User
from leadflow.core.config import config_cached, config_snapshot, config_token
from leadflow.leads.models import CustomField
from leadflow.leads.selectors import custom_field_specs
from leadflow.scoring.models import RuleKind, ScoringRule
from leadflow.scoring.selectors import policy_get, rules_compiled

pytestmark = pytest.mark.django_db

PRICING = {"all": [{"field": "url", "op": "contains", "value": "/pricing"}]}


def rule(name: str, points: int = 10) -> ScoringRule:
    return ScoringRule.objects.create(name=name, kind=RuleKind.ENGAGEMENT, condition=PRICING, points=points)


def test_a_snapshot_reads_the_token_once_and_cached_config_costs_no_query() -> None:
    rule("Pricing page")
    policy_get()  # its first read creates the row: a write, so a new generation
    rules_compiled(kind=RuleKind.ENGAGEMENT), policy_get(), custom_field_specs()  # fill the cache
    with CaptureQueriesContext(connection) as queries, config_snapshot():
        for _ in range(3):
            assert [r.name for r in rules_compiled(kind=RuleKind.ENGAGEMENT)] == ["Pricing page"]
            policy_get()
            custom_field_specs()
    assert len(queries) == 1 and "core_configgeneration" in queries[0]["sql"]


@pytest.mark.parametrize(
    "write",
    [
        lambda: rule("Webinar", 15),  # the ORM
        lambda: ScoringRule.objects.update(points=99),  # a set-based update
        lambda: ScoringRule.objects.all().delete(),
        lambda: connection.cursor().execute("UPDATE scoring_scoringrule SET name = 'Raw SQL'"),
    ],
)
def test_any_write_to_a_configuration_table_renews_the_token(write: Callable[[], Any]) -> None:
    rule("Pricing page")
    before = rules_compiled(kind=RuleKind.ENGAGEMENT)
    token = config_token()
    write()
    assert config_token() != token
    after = rules_compiled(kind=RuleKind.ENGAGEMENT)
    assert after != before
    assert after == list(rules_compiled(kind=RuleKind.ENGAGEMENT))


def test_policy_copies_are_the_callers_and_saving_one_is_seen_at_once() -> None:
    policy = policy_get()
    policy.mql_score = 77  # not saved: the cached value must not change
    assert policy_get().mql_score == 50
    policy.save()
    assert policy_get().mql_score == 77


def test_users_teams_and_custom_fields_are_configuration() -> None:
    for write in (
        lambda: User.objects.create(username="new-rep"),
        lambda: Team.objects.create(name="Inside sales"),
        lambda: CustomField.objects.create(key="fleet_size", label="Fleet size", field_type="number"),
    ):
        token = config_token()
        write()
        assert config_token() != token
    assert "fleet_size" in custom_field_specs()


def test_an_emptied_generation_table_turns_caching_off_until_it_is_back() -> None:
    calls = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    connection.cursor().execute("DELETE FROM core_configgeneration")
    assert config_cached("test.emptied", load) == 1  # not cached: the row was missing
    assert config_cached("test.emptied", load) == 2  # the row is back: cached from now on
    assert config_cached("test.emptied", load) == 2
