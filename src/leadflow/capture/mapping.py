"""Mapping what channels send into the intake payload (pure: no Django).

Google Ads lead form webhooks, Meta lead field data, generic JSON with dot paths, web form posts;
plus the signature checks webhooks use.
"""

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadflow.leads.fields import ATTRIBUTION_FIELDS, STANDARD_FIELDS

# Google's standard column ids → lead fields. FULL_NAME is split; the rest are kept as custom data.
GOOGLE_COLUMNS = {
    "FIRST_NAME": "first_name",
    "LAST_NAME": "last_name",
    "EMAIL": "email",
    "WORK_EMAIL": "email",
    "PHONE_NUMBER": "phone",
    "WORK_PHONE": "phone",
    "COMPANY_NAME": "company",
    "JOB_TITLE": "job_title",
    "CITY": "city",
    "REGION": "region",
    "COUNTRY": "country",
}
# Meta's standard question names → lead fields.
META_FIELDS = {
    "email": "email",
    "work_email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone_number": "phone",
    "work_phone_number": "phone",
    "company_name": "company",
    "job_title": "job_title",
    "city": "city",
    "state": "region",
    "province": "region",
    "country": "country",
}
MAX_VALUE = 1000


def split_full_name(full_name: str) -> tuple[str, str]:
    """'Ada  King Lovelace' → ('Ada King', 'Lovelace'); one word is a first name."""
    parts = full_name.split()
    if len(parts) <= 1:
        return (parts[0] if parts else "", "")
    return " ".join(parts[:-1]), parts[-1]


def _put(payload: dict[str, Any], name: str, value: str) -> None:
    if value and not payload.get(name):
        payload[name] = value[:MAX_VALUE]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return ""


@dataclass
class GoogleLead:
    lead_id: str
    google_key: str
    is_test: bool
    payload: dict[str, Any] = field(default_factory=dict)


def google_ads_lead(body: Any) -> GoogleLead:
    """Reads Google's lead form webhook JSON; ValueError when it is not that shape."""
    if not isinstance(body, Mapping):
        raise ValueError("The body must be a JSON object.")
    lead_id = _text(body.get("lead_id"))
    if not lead_id:
        raise ValueError("lead_id is missing.")
    columns = body.get("user_column_data") or []
    if not isinstance(columns, Sequence) or isinstance(columns, str):
        raise ValueError("user_column_data must be a list.")
    payload: dict[str, Any] = {"external_id": lead_id}
    custom: dict[str, str] = {}
    full_name = ""
    address: dict[str, str] = {}
    for column in columns:
        if not isinstance(column, Mapping):
            continue
        column_id = _text(column.get("column_id")).upper()
        value = _text(column.get("string_value"))
        if not value:
            continue
        if column_id == "FULL_NAME":
            full_name = value
        elif column_id in GOOGLE_COLUMNS:
            _put(payload, GOOGLE_COLUMNS[column_id], value)
        elif column_id in ("POSTAL_CODE", "STREET_ADDRESS"):
            address[column_id.lower()] = value[:MAX_VALUE]
        else:
            label = _text(column.get("column_name")) or column_id or "question"
            custom[label[:100]] = value[:MAX_VALUE]
    if full_name:
        first, last = split_full_name(full_name)
        _put(payload, "first_name", first)
        _put(payload, "last_name", last)
    gclid = _text(body.get("gcl_id"))
    payload["attribution"] = {"utm_source": "google", "utm_medium": "cpc"} | (
        {"gclid": gclid} if gclid else {}
    )
    payload["google_ads"] = {
        name: _text(body.get(name))
        for name in ("form_id", "campaign_id", "adgroup_id", "creative_id", "api_version")
        if _text(body.get(name))
    } | address
    if custom:
        payload["questions"] = custom
    is_test = body.get("is_test") is True
    if is_test:
        payload["is_test"] = True
    return GoogleLead(
        lead_id=lead_id, google_key=_text(body.get("google_key")), is_test=is_test, payload=payload
    )


def meta_leadgen_notices(body: Any) -> list[dict[str, Any]]:
    """The leadgen change values of a Meta webhook POST (entry[].changes[] with field 'leadgen')."""
    notices: list[dict[str, Any]] = []
    if not isinstance(body, Mapping):
        return notices
    for entry in body.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        for change in entry.get("changes") or []:
            if isinstance(change, Mapping) and change.get("field") == "leadgen":
                value = change.get("value")
                if isinstance(value, Mapping) and _text(value.get("leadgen_id")):
                    notices.append(dict(value))
    return notices


def meta_lead_payload(lead: Any, notice: Mapping[str, Any]) -> dict[str, Any]:
    """The intake payload of a Graph API lead ({"id", "field_data": [{"name", "values"}], …})."""
    if not isinstance(lead, Mapping):
        raise ValueError("The Graph API answered something other than a JSON object.")
    leadgen_id = _text(lead.get("id")) or _text(notice.get("leadgen_id"))
    payload: dict[str, Any] = {"external_id": leadgen_id}
    questions: dict[str, str] = {}
    full_name = ""
    for item in lead.get("field_data") or []:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("name"))
        values = item.get("values") or []
        value = ", ".join(_text(v) for v in values if _text(v)) if isinstance(values, list) else _text(values)
        if not name or not value:
            continue
        if name.lower() == "full_name":
            full_name = value
        elif name.lower() in META_FIELDS:
            _put(payload, META_FIELDS[name.lower()], value)
        else:
            questions[name[:100]] = value[:MAX_VALUE]
    if full_name:
        first, last = split_full_name(full_name)
        _put(payload, "first_name", first)
        _put(payload, "last_name", last)
    payload["attribution"] = {"utm_source": "facebook", "utm_medium": "paid_social"}
    payload["meta"] = {
        name: _text(lead.get(name)) or _text(notice.get(name))
        for name in ("form_id", "ad_id", "adgroup_id", "campaign_id", "page_id", "created_time")
        if _text(lead.get(name)) or _text(notice.get(name))
    }
    if questions:
        payload["questions"] = questions
    if lead.get("is_organic") is False or notice.get("ad_id"):
        payload["attribution"]["utm_content"] = _text(lead.get("ad_id")) or _text(notice.get("ad_id"))
    return payload


def dot_get(data: Any, path: str) -> Any:
    """The value at a dot path ('a.b.0.c'); None when any step is missing."""
    current = data
    for step in path.split("."):
        if isinstance(current, Mapping) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def mapping_errors(mapping: Any) -> dict[str, str]:
    """Problems of a generic webhook mapping {lead field: dot path}."""
    if not isinstance(mapping, Mapping):
        return {"mapping": "The mapping must be an object of lead field → dot path."}
    errors = {}
    known = {*STANDARD_FIELDS, *ATTRIBUTION_FIELDS, "external_id"}
    for target, path in mapping.items():
        if target not in known and not str(target).startswith("custom."):
            errors[str(target)] = (
                "Not a lead field (use a standard field, an attribution field or custom.<key>)."
            )
        elif not isinstance(path, str) or not path.strip() or any(not step for step in path.split(".")):
            errors[str(target)] = "The path must be dot-separated keys, e.g. data.contact.email."
    return errors


def generic_payload(body: Any, mapping: Mapping[str, str]) -> Any:
    """Applies a {lead field: dot path} mapping; an empty mapping takes the body as a lead payload."""
    if not mapping:
        return body
    payload: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    attribution: dict[str, str] = {}
    for target, path in mapping.items():
        value = dot_get(body, path)
        if value is None or isinstance(value, Mapping | list):
            continue
        if target.startswith("custom."):
            custom[target.removeprefix("custom.")] = value
        elif target in ATTRIBUTION_FIELDS:
            attribution[target] = _text(value)
        else:
            payload[target] = value
    if custom:
        payload["custom"] = custom
    if attribution:
        payload["attribution"] = attribution
    return payload


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Checks an HMAC-SHA256 signature header, with or without the 'sha256=' prefix (constant time)."""
    if not secret or not header:
        return False
    given = header.strip().removeprefix("sha256=")
    return hmac.compare_digest(hmac_sha256_hex(secret, body), given.lower())


def secret_equal(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


# Web forms

FORM_FIELD_TYPES = ("text", "email", "tel", "textarea", "number", "select", "checkbox")
HIDDEN_FIELDS = ATTRIBUTION_FIELDS


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: str = "text"
    required: bool = False
    maps_to: str = ""
    choices: tuple[str, ...] = ()


def form_fields(raw: Any) -> list[FormField]:
    """The form's stored field list as FormFields, skipping malformed rows."""
    fields = []
    for row in raw if isinstance(raw, list) else []:
        if not isinstance(row, Mapping) or not _text(row.get("name")):
            continue
        choices = row.get("choices") or []
        fields.append(
            FormField(
                name=_text(row.get("name")),
                label=_text(row.get("label")) or _text(row.get("name")),
                type=_text(row.get("type")) if _text(row.get("type")) in FORM_FIELD_TYPES else "text",
                required=bool(row.get("required")),
                maps_to=_text(row.get("maps_to")) or _text(row.get("name")),
                choices=tuple(_text(c) for c in choices if _text(c)) if isinstance(choices, list) else (),
            )
        )
    return fields


def form_payload(
    fields: Sequence[FormField],
    data: Mapping[str, str],
    *,
    known: Mapping[str, str],
    consent_text: str,
    method: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A form post as an intake payload, plus per-field errors for missing required answers.

    `known` holds what is already known of a recognised visitor (progressive profiling): those fields
    were not asked, so they are not required, and the identifying email is carried over.
    """
    payload: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for form_field in fields:
        value = (data.get(form_field.name) or "").strip()
        if form_field.type == "checkbox":
            value = "true" if value else ""
        if not value:
            if form_field.required and form_field.maps_to not in known:
                errors[form_field.name] = f"{form_field.label} is required."
            continue
        target = form_field.maps_to
        if target.startswith("custom."):
            custom[target.removeprefix("custom.")] = value[:MAX_VALUE]
        else:
            payload[target] = value[:MAX_VALUE]
    if "email" not in payload and known.get("email"):
        payload["email"] = known["email"]
    if custom:
        payload["custom"] = custom
    attribution = {name: data[name][:MAX_VALUE] for name in HIDDEN_FIELDS if (data.get(name) or "").strip()}
    if attribution:
        payload["attribution"] = attribution
    if consent_text and (data.get("consent") or "").strip():
        payload["consent"] = {"email": {"granted": True, "text": consent_text, "method": method}}
    return payload, errors
