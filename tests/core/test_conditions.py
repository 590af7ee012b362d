"""The condition engine: validation, evaluation, explanations, and agreement with its SQL form."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.core.conditions import ConditionError, compile_condition, describe, explain, matches, validate
from leadflow.core.conditions_sql import to_q
from leadflow.leads.models import Lead

FIELDS = {
    "first_name": "text",
    "country": "text",
    "stage": "choice",
    "score": "number",
    "annual_revenue": "number",
    "is_test": "boolean",
    "created_at": "datetime",
}


def test_validation_names_every_problem_with_its_path() -> None:
    with pytest.raises(ConditionError) as err:
        validate(
            {
                "all": [
                    {"field": "colour", "op": "eq", "value": "red"},
                    {"field": "score", "op": "contains", "value": "1"},
                    {"field": "score", "op": "gt", "value": "many"},
                    {"field": "country", "op": "in", "value": []},
                    {"field": "score", "op": "between", "value": [10, 1]},
                    {"any": "nope"},
                    "not a condition",
                ]
            },
            FIELDS,
        )
    problems = err.value.problems
    assert problems[0] == "condition.all[0].field: unknown field 'colour'"
    assert "contains does not apply to score" in problems[1]
    assert problems[2].startswith("condition.all[2].value:")
    assert "non-empty list" in problems[3]
    assert "low ≤ high" in problems[4]
    assert problems[5] == "condition.all[5].any: must be a list of conditions"
    assert problems[6] == "condition.all[6]: a condition must be an object"


def test_validation_coerces_values_to_field_types() -> None:
    cleaned = validate({"field": "score", "op": "between", "value": ["10", 20.5]}, FIELDS)
    assert cleaned == {"field": "score", "op": "between", "value": [10, 20.5]}


@pytest.mark.parametrize(
    ("condition", "record", "expected"),
    [
        ({"field": "country", "op": "eq", "value": "de"}, {"country": " DE "}, True),
        ({"field": "country", "op": "ne", "value": "de"}, {"country": ""}, True),
        ({"field": "country", "op": "eq", "value": "de"}, {}, False),
        ({"field": "score", "op": "gte", "value": 50}, {"score": 50}, True),
        ({"field": "score", "op": "lt", "value": 50}, {"score": None}, False),
        ({"field": "score", "op": "is_empty"}, {"score": None}, True),
        ({"field": "first_name", "op": "contains", "value": "ann"}, {"first_name": "Joanna"}, True),
        ({"field": "first_name", "op": "not_contains", "value": "ann"}, {"first_name": None}, True),
        ({"field": "is_test", "op": "eq", "value": "yes"}, {"is_test": True}, True),
        (
            {"field": "created_at", "op": "gt", "value": "2026-01-01"},
            {"created_at": "2026-03-01T10:00:00+00:00"},
            True,
        ),
        ({"all": []}, {}, True),
        ({"any": []}, {}, False),
        ({"not": {"field": "country", "op": "in", "value": ["DE", "AT"]}}, {"country": "FR"}, True),
    ],
)
def test_evaluation(condition: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert matches(validate(condition, FIELDS), FIELDS, record) is expected


def test_explanations_say_why() -> None:
    condition = validate(
        {
            "all": [
                {"field": "country", "op": "in", "value": ["DE", "AT"]},
                {"field": "score", "op": "gte", "value": 30},
            ]
        },
        FIELDS,
    )
    assert describe(condition) == "(country is one of de, at and score ≥ 30)"
    assert explain(condition, FIELDS, {"country": "DE", "score": 10}) == [
        "country is one of de, at ✓ (DE)",
        "score ≥ 30 ✗ (10)",
    ]


def test_garbage_record_values_never_raise() -> None:
    predicate = compile_condition(validate({"field": "score", "op": "gt", "value": 1}, FIELDS), FIELDS)
    assert predicate({"score": "lots"}) is False


# Agreement between the Python predicate and the SQL filter, on the real database.

TEXTS = ["", "Ann", "anna", "Bob", "de", "DE", "at", "Zoë"]
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _value(field_type: str) -> st.SearchStrategy[Any]:
    if field_type in {"text", "choice"}:
        return st.sampled_from(["ann", "de", "at", "b", "Bob", "lead", "mql"])
    if field_type == "number":
        return st.integers(-5, 120)
    if field_type == "boolean":
        return st.booleans()
    return st.integers(-30, 30).map(lambda d: (NOW + dt.timedelta(days=d)).isoformat())


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    from leadflow.core.conditions import OPERATORS

    name = draw(st.sampled_from(sorted(FIELDS)))
    field_type = FIELDS[name]
    op = draw(st.sampled_from(sorted(op for op, types in OPERATORS.items() if field_type in types)))
    if op in {"is_empty", "is_not_empty"}:
        return {"field": name, "op": op}
    if op in {"in", "not_in"}:
        return {"field": name, "op": op, "value": draw(st.lists(_value(field_type), min_size=1, max_size=3))}
    if op == "between":
        low, high = sorted(draw(st.lists(st.integers(-30, 120), min_size=2, max_size=2)))
        if field_type == "datetime":
            return {
                "field": name,
                "op": op,
                "value": [(NOW + dt.timedelta(days=d)).isoformat() for d in (low, high)],
            }
        return {"field": name, "op": op, "value": [low, high]}
    return {"field": name, "op": op, "value": draw(_value(field_type))}


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=6,
)


@pytest.fixture
def varied_leads(db: None) -> list[Lead]:
    leads = []
    for i in range(40):
        leads.append(
            Lead(
                first_name=TEXTS[i % len(TEXTS)],
                country=["de", "DE", "at", "", "fr"][i % 5],
                stage=["lead", "mql", "sql"][i % 3],
                score=(i * 7) % 110 - 5,
                annual_revenue=None if i % 4 == 0 else Decimal(i * 3),
                is_test=i % 6 == 0,
                created_at=NOW + dt.timedelta(days=i - 20, hours=i % 5),
            )
        )
    return Lead.objects.bulk_create(leads)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions)
def test_python_and_sql_agree(varied_leads: list[Lead], condition: dict[str, Any]) -> None:
    cleaned = validate(condition, FIELDS)
    predicate = compile_condition(cleaned, FIELDS)
    in_python = {
        lead.pk for lead in varied_leads if predicate({name: getattr(lead, name) for name in FIELDS})
    }
    in_sql = set(Lead.objects.filter(to_q(cleaned, FIELDS)).values_list("pk", flat=True))
    assert in_python == in_sql, describe(cleaned)
