"""The fields scoring conditions may use, and the records they are evaluated on (pure, no ORM).

Fit rules look at lead fields: the standard ones, a few lifecycle and score fields, and custom fields
as "custom.<key>". Engagement rules look at one activity: its kind, event name, url and path, and any
event property as "properties.<name>" (compared as text).
"""

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from leadflow.leads.fields import STANDARD_FIELDS, CustomFieldSpec

LEAD_FIELDS: dict[str, str] = {
    **dict.fromkeys(STANDARD_FIELDS, "text"),
    "annual_revenue": "number",
    "email_normalized": "text",
    "phone_e164": "text",
    "stage": "choice",
    "status": "choice",
    "is_test": "boolean",
    "created_at": "datetime",
    "engagement_score": "number",
}
# Fit fields that are columns of the lead table (usable in set-based SQL as they are).
COLUMN_FIELDS = frozenset(LEAD_FIELDS)
CUSTOM_PREFIX = "custom."
PROPERTY_PREFIX = "properties."
ACTIVITY_FIELDS: dict[str, str] = {"kind": "choice", "event": "text", "url": "text", "path": "text"}


def lead_fields(specs: Mapping[str, CustomFieldSpec]) -> dict[str, str]:
    """The fit catalogue: field name → condition type."""
    return {**LEAD_FIELDS, **{CUSTOM_PREFIX + key: spec.field_type for key, spec in specs.items()}}


class ActivityFields(Mapping[str, str]):
    """The engagement catalogue: the fixed activity fields plus any "properties.<name>" as text."""

    def __getitem__(self, name: str) -> str:
        if name in ACTIVITY_FIELDS:
            return ACTIVITY_FIELDS[name]
        if isinstance(name, str) and name.startswith(PROPERTY_PREFIX) and len(name) > len(PROPERTY_PREFIX):
            return "text"
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(ACTIVITY_FIELDS)

    def __len__(self) -> int:
        return len(ACTIVITY_FIELDS)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True


ACTIVITY_CATALOGUE = ActivityFields()


def lead_record(lead: Any) -> dict[str, Any]:
    """A lead as the mapping fit conditions read."""
    record = {name: getattr(lead, name) for name in LEAD_FIELDS}
    record.update({CUSTOM_PREFIX + key: value for key, value in (lead.custom or {}).items()})
    return record


def activity_record(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """An activity as the mapping engagement conditions read."""
    properties = payload.get("properties") or {}
    if not isinstance(properties, Mapping):
        properties = {}
    url = str(properties.get("url") or "")
    path = str(properties.get("path") or "") or (urlsplit(url).path if url else "")
    record: dict[str, Any] = {
        PROPERTY_PREFIX + str(key): value
        for key, value in properties.items()
        if not isinstance(value, dict | list)
    }
    record.update({"kind": kind, "event": payload.get("event") or "", "url": url, "path": path})
    return record
