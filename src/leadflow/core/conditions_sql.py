"""The condition engine as database filters, for set-based work (segments, rescoring, bulk routing).

Same semantics as leadflow.core.conditions (tests hold the two to agreement), for conditions over
concrete model columns. Text comparisons are case-insensitive the way the database folds case
(ASCII on SQLite); values the intake flow stores are already trimmed.
"""

from collections.abc import Mapping
from typing import Any

from django.db.models import Q

from leadflow.core.conditions import NO_VALUE, rule_value

# Explicit truth values: an empty Q() vanishes when combined, which would turn "any(always)" into never.
NEVER = Q(pk__in=[])
ALWAYS = ~NEVER


def to_q(condition: Any, fields: Mapping[str, str], *, prefix: str = "") -> Q:
    """A Q object selecting the rows that satisfy a validated condition.

    `fields` maps condition field names to types; `prefix` is prepended to lookups
    (e.g. "lead__" to filter a related model).
    """
    if "all" in condition:
        result = ALWAYS
        for member in condition["all"]:
            result &= to_q(member, fields, prefix=prefix)
        return result
    if "any" in condition:
        result = NEVER
        for member in condition["any"]:
            result |= to_q(member, fields, prefix=prefix)
        return result
    if "not" in condition:
        return ~to_q(condition["not"], fields, prefix=prefix)
    return _leaf(condition, fields[condition["field"]], prefix)


def _empty(column: str, field_type: str) -> Q:
    q = Q(**{f"{column}__isnull": True})
    if field_type in {"text", "choice"}:
        q |= Q(**{column: ""})
    return q


def _leaf(condition: Mapping[str, Any], field_type: str, prefix: str) -> Q:
    column = prefix + condition["field"]
    op = condition["op"]
    value: Any = None if op in NO_VALUE else rule_value(op, condition.get("value"), field_type)
    text = field_type in {"text", "choice"}
    empty = _empty(column, field_type)
    if op == "is_empty":
        return empty
    if op == "is_not_empty":
        return ~empty
    if op in {"eq", "ne"}:
        match = Q(**{f"{column}__iexact" if text else column: value})
        return match & ~empty if op == "eq" else ~match | empty
    if op in {"in", "not_in"}:
        match = NEVER
        for item in value:
            match |= Q(**{f"{column}__iexact" if text else column: item})
        return match & ~empty if op == "in" else ~match | empty
    if op in {"contains", "not_contains", "starts_with", "ends_with"}:
        lookup = {
            "contains": "icontains",
            "not_contains": "icontains",
            "starts_with": "istartswith",
            "ends_with": "iendswith",
        }[op]
        match = Q(**{f"{column}__{lookup}": value})
        return ~match | empty if op == "not_contains" else match & ~empty
    if op == "between":
        return Q(**{f"{column}__gte": value[0], f"{column}__lte": value[1]})
    return Q(**{f"{column}__{op}": value})
