"""The one condition engine: rules (scoring, routing, segments, qualification) are JSON condition sets.

A condition is a leaf or a group:

    {"field": "country", "op": "in", "value": ["DE", "AT"]}
    {"all": [condition, ...]}     every one holds (an empty "all" always holds)
    {"any": [condition, ...]}     at least one holds (an empty "any" never holds)
    {"not": condition}

Conditions are validated against a field catalogue (name → type) when a rule is saved, compiled once
into a plain Python predicate for per-event evaluation, and explained ("country is DE ✓") so every
decision can say why. leadflow.core.conditions_sql turns the same conditions into database filters
for set-based work; both follow the semantics written here. Pure logic: no Django.

Text comparisons ignore case and surrounding space. A missing or empty value equals nothing and is
neither greater nor smaller than anything; only is_empty matches it.
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

FieldType = Literal["text", "number", "date", "datetime", "boolean", "choice"]
Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

OPERATORS: dict[str, set[str]] = {
    "eq": {"text", "number", "date", "datetime", "boolean", "choice"},
    "ne": {"text", "number", "date", "datetime", "boolean", "choice"},
    "in": {"text", "number", "choice"},
    "not_in": {"text", "number", "choice"},
    "contains": {"text"},
    "not_contains": {"text"},
    "starts_with": {"text"},
    "ends_with": {"text"},
    "gt": {"number", "date", "datetime"},
    "gte": {"number", "date", "datetime"},
    "lt": {"number", "date", "datetime"},
    "lte": {"number", "date", "datetime"},
    "between": {"number", "date", "datetime"},
    "is_empty": {"text", "number", "date", "datetime", "boolean", "choice"},
    "is_not_empty": {"text", "number", "date", "datetime", "boolean", "choice"},
}
OPERATOR_LABELS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": "is between",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
NO_VALUE = {"is_empty", "is_not_empty"}
LIST_VALUE = {"in", "not_in"}
MAX_DEPTH = 8


class ConditionError(ValueError):
    """A condition that cannot be used, with one message per problem (each names its path)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any
    field_type: str


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def coerce(value: Any, field_type: str) -> Any:
    """A rule's or a record's value in the comparable form of its field type; ValueError if impossible."""
    if _is_empty(value):
        return None
    if field_type in {"text", "choice"}:
        return _text(value)
    if field_type == "number":
        if isinstance(value, bool):
            raise ValueError("a number was expected")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a number")
        return number
    if field_type == "boolean":
        if isinstance(value, bool):
            return value
        word = _text(value)
        if word in {"true", "yes", "1"}:
            return True
        if word in {"false", "no", "0"}:
            return False
        raise ValueError(f"{value!r} is not true or false")
    if field_type == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value).strip()[:10])
    if field_type == "datetime":
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        else:
            moment = dt.datetime.fromisoformat(str(value).strip())
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    raise ValueError(f"unknown field type {field_type!r}")


def validate(condition: Any, fields: Mapping[str, str]) -> Any:
    """The condition with its values coerced to the fields' types, or ConditionError listing every problem."""
    problems: list[str] = []
    normalized = _validate(condition, fields, "condition", 0, problems)
    if problems:
        raise ConditionError(problems)
    return normalized


def _validate(condition: Any, fields: Mapping[str, str], path: str, depth: int, problems: list[str]) -> Any:
    if depth > MAX_DEPTH:
        problems.append(f"{path}: conditions nest more than {MAX_DEPTH} levels deep")
        return None
    if not isinstance(condition, Mapping):
        problems.append(f"{path}: a condition must be an object")
        return None
    groups = [key for key in ("all", "any", "not") if key in condition]
    if groups:
        if len(condition) != 1:
            problems.append(f"{path}: a group has exactly one key: all, any or not")
            return None
        key = groups[0]
        if key == "not":
            return {"not": _validate(condition["not"], fields, f"{path}.not", depth + 1, problems)}
        members = condition[key]
        if not isinstance(members, list):
            problems.append(f"{path}.{key}: must be a list of conditions")
            return None
        return {
            key: [
                _validate(m, fields, f"{path}.{key}[{i}]", depth + 1, problems) for i, m in enumerate(members)
            ]
        }
    return _validate_leaf(condition, fields, path, problems)


def _validate_leaf(
    condition: Mapping[str, Any], fields: Mapping[str, str], path: str, problems: list[str]
) -> Any:
    unknown_keys = set(condition) - {"field", "op", "value"}
    if unknown_keys:
        problems.append(f"{path}: unknown key(s) {', '.join(sorted(unknown_keys))}")
    name, op = condition.get("field"), condition.get("op")
    if not isinstance(name, str) or name not in fields:
        problems.append(f"{path}.field: unknown field {name!r}")
        return None
    field_type = fields[name]
    if op not in OPERATORS:
        problems.append(f"{path}.op: unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
        return None
    if field_type not in OPERATORS[op]:
        problems.append(f"{path}.op: {op} does not apply to {name} ({field_type})")
        return None
    raw = condition.get("value")
    try:
        value = rule_value(op, raw, field_type)
    except (ValueError, TypeError) as err:
        problems.append(f"{path}.value: {err}")
        return None
    return {"field": name, "op": op, "value": raw if op in NO_VALUE else _json_value(value)}


def rule_value(op: str, raw: Any, field_type: str) -> Any:
    """A rule's value coerced for comparison: a list for in/not_in and between, None for is_(not_)empty."""
    if op in NO_VALUE:
        return None
    if op in LIST_VALUE:
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{op} needs a non-empty list")
        values = [coerce(v, field_type) for v in raw]
        if any(v is None for v in values):
            raise ValueError("a list may not hold empty values")
        return values
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise ValueError("between needs [low, high]")
        low, high = coerce(raw[0], field_type), coerce(raw[1], field_type)
        if low is None or high is None or low > high:
            raise ValueError("between needs low ≤ high")
        return [low, high]
    value = coerce(raw, field_type)
    if value is None:
        raise ValueError(f"{op} needs a value (use is_empty to match empty fields)")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def compile_condition(condition: Any, fields: Mapping[str, str]) -> Predicate:
    """A fast predicate over records (mappings of field → value) for a condition already validated."""
    if "all" in condition:
        parts = [compile_condition(c, fields) for c in condition["all"]]
        return lambda record: all(p(record) for p in parts)
    if "any" in condition:
        parts = [compile_condition(c, fields) for c in condition["any"]]
        return lambda record: any(p(record) for p in parts)
    if "not" in condition:
        inner = compile_condition(condition["not"], fields)
        return lambda record: not inner(record)
    return _compile_leaf(condition, fields[condition["field"]])


def _compile_leaf(condition: Mapping[str, Any], field_type: str) -> Predicate:
    name, op = condition["field"], condition["op"]
    target = rule_value(op, condition.get("value"), field_type)
    test = _LEAF_TESTS[op]

    def predicate(record: Record) -> bool:
        try:
            actual = coerce(record.get(name), field_type)
        except (ValueError, TypeError):
            actual = None
        return test(actual, target)

    return predicate


def _present(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """A comparison that never holds for an empty value."""
    return lambda actual, target: actual is not None and test(actual, target)


_LEAF_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _present(lambda a, t: a == t),
    "ne": lambda a, t: a is None or a != t,
    "in": _present(lambda a, t: a in t),
    "not_in": lambda a, t: a is None or a not in t,
    "contains": _present(lambda a, t: t in a),
    "not_contains": lambda a, t: a is None or t not in a,
    "starts_with": _present(lambda a, t: a.startswith(t)),
    "ends_with": _present(lambda a, t: a.endswith(t)),
    "gt": _present(lambda a, t: a > t),
    "gte": _present(lambda a, t: a >= t),
    "lt": _present(lambda a, t: a < t),
    "lte": _present(lambda a, t: a <= t),
    "between": _present(lambda a, t: t[0] <= a <= t[1]),
    "is_empty": lambda a, t: a is None,
    "is_not_empty": lambda a, t: a is not None,
}


def matches(condition: Any, fields: Mapping[str, str], record: Record) -> bool:
    return compile_condition(condition, fields)(record)


def explain(condition: Any, fields: Mapping[str, str], record: Record) -> list[str]:
    """One line per leaf that decided the outcome, marked ✓ or ✗, e.g. "country is one of DE, AT ✓ (DE)"."""
    lines: list[str] = []
    _explain(condition, fields, record, lines)
    return lines


def _explain(condition: Any, fields: Mapping[str, str], record: Record, lines: list[str]) -> bool:
    if "all" in condition:
        return all(_explain(c, fields, record, lines) for c in condition["all"])
    if "any" in condition:
        return any(_explain(c, fields, record, lines) for c in condition["any"])
    if "not" in condition:
        inner: list[str] = []
        held = _explain(condition["not"], fields, record, inner)
        lines.extend(f"not ({line})" for line in inner)
        return not held
    held = _compile_leaf(condition, fields[condition["field"]])(record)
    lines.append(f"{describe(condition)} {'✓' if held else '✗'} ({_shown(record.get(condition['field']))})")
    return held


def describe(condition: Any) -> str:
    """A condition in words: "job_title contains ceo and (country is DE or country is AT)"."""
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        parts = [describe(c) for c in condition[key]]
        if not parts:
            return "always" if key == "all" else "never"
        joined = f" {'and' if key == 'all' else 'or'} ".join(parts)
        return f"({joined})" if len(parts) > 1 else joined
    if "not" in condition:
        return f"not {describe(condition['not'])}"
    op, value = condition["op"], condition.get("value")
    label = OPERATOR_LABELS[op]
    if op in NO_VALUE:
        return f"{condition['field']} {label}"
    if op == "between":
        return f"{condition['field']} {label} {value[0]} and {value[1]}"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{condition['field']} {label} {shown}"


def _shown(value: Any) -> str:
    return "empty" if _is_empty(value) else str(value)
