"""Reading a submitted payload into lead values (pure: no ORM).

Known standard fields are normalized; custom fields are validated against their definitions;
attribution and consent are picked out; anything else is kept as extra data.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadflow.hygiene.normalize import normalize_lead_fields
from leadflow.leads.fields import (
    ATTRIBUTION_FIELDS,
    STANDARD_FIELDS,
    TRUE_WORDS,
    CustomFieldSpec,
    validate_custom_values,
)

CONSENT_CHANNELS = ("email", "sms")
RESERVED_KEYS = {"custom", "attribution", "consent", "external_id", "source", "is_test"}
MAX_EXTRA_KEYS = 100


@dataclass
class ConsentInput:
    granted: bool
    text: str
    method: str


@dataclass
class ParsedSubmission:
    values: dict[str, str] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    attribution: dict[str, str] = field(default_factory=dict)
    consent: dict[str, ConsentInput] = field(default_factory=dict)
    external_id: str = ""
    source_name: str = ""
    is_test: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    """A scalar as text; None for containers (which are not valid field values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value).strip()
    return None


def parse_submission(
    payload: Any, *, custom_fields: Mapping[str, CustomFieldSpec], default_region: str
) -> ParsedSubmission:
    parsed = ParsedSubmission()
    if not isinstance(payload, Mapping):
        parsed.errors["body"] = "The body must be a JSON object of lead fields."
        return parsed

    standard: dict[str, str] = {}
    custom_raw: dict[str, Any] = {}
    for key, value in payload.items():
        if key in STANDARD_FIELDS:
            text = _text(value)
            if text is None:
                parsed.errors[key] = f"{key} must be text, not a list or object."
            elif text:
                standard[key] = text
        elif key in ATTRIBUTION_FIELDS:
            text = _text(value)
            if text:
                parsed.attribution[key] = text[:1000]
        elif key in custom_fields:
            custom_raw[key] = value
        elif key not in RESERVED_KEYS and len(parsed.extra) < MAX_EXTRA_KEYS:
            parsed.extra[str(key)[:100]] = value

    _parse_custom(payload.get("custom"), custom_fields, custom_raw, parsed)
    _parse_attribution(payload.get("attribution"), parsed)
    _parse_consent(payload.get("consent"), parsed)
    parsed.is_test = payload.get("is_test") is True
    for key in ("external_id", "source"):
        text = _text(payload.get(key))
        if text is None:
            parsed.errors[key] = f"{key} must be text."
        elif key == "external_id":
            parsed.external_id = text[:200]
        else:
            parsed.source_name = text[:100]

    normalized = normalize_lead_fields(standard, default_region=default_region)
    parsed.values = normalized.values
    parsed.errors.update(normalized.errors)
    custom, custom_errors = validate_custom_values(custom_fields, custom_raw)
    parsed.custom = custom
    parsed.errors.update(custom_errors)
    if not parsed.errors and not (
        parsed.values.get("email_normalized") or parsed.values.get("phone_e164") or parsed.external_id
    ):
        parsed.errors["email"] = (
            "Give at least an email, a phone number or an external_id to identify the lead."
        )
    return parsed


def _parse_custom(
    custom: Any, specs: Mapping[str, CustomFieldSpec], into: dict[str, Any], parsed: ParsedSubmission
) -> None:
    if custom is None:
        return
    if not isinstance(custom, Mapping):
        parsed.errors["custom"] = "custom must be an object of custom field values."
        return
    for key, value in custom.items():
        if key in specs:
            into[key] = value
        else:
            parsed.extra[f"custom.{key}"] = value


def _parse_attribution(attribution: Any, parsed: ParsedSubmission) -> None:
    if attribution is None:
        return
    if not isinstance(attribution, Mapping):
        parsed.errors["attribution"] = "attribution must be an object (utm_source, referrer, gclid …)."
        return
    for key, value in attribution.items():
        text = _text(value)
        if key in ATTRIBUTION_FIELDS and text:
            parsed.attribution[key] = text[:1000]
        elif key not in ATTRIBUTION_FIELDS:
            parsed.extra[f"attribution.{key}"] = value


def _parse_consent(consent: Any, parsed: ParsedSubmission) -> None:
    """consent: {"email": {"granted": true, "text": "…", "method": "…"}, "sms": true}."""
    if consent is None:
        return
    if not isinstance(consent, Mapping):
        parsed.errors["consent"] = "consent must be an object keyed by channel (email, sms)."
        return
    for channel, given in consent.items():
        if channel not in CONSENT_CHANNELS:
            parsed.errors[f"consent.{channel}"] = (
                f"Unknown consent channel; use {', '.join(CONSENT_CHANNELS)}."
            )
            continue
        if isinstance(given, Mapping):
            granted, text, method = given.get("granted"), given.get("text", ""), given.get("method", "")
        else:
            granted, text, method = given, "", ""
        if isinstance(granted, str):
            granted = granted.strip().lower() in TRUE_WORDS
        if not isinstance(granted, bool):
            parsed.errors[f"consent.{channel}"] = "granted must be true or false."
            continue
        parsed.consent[channel] = ConsentInput(
            granted=granted, text=str(text or "")[:5000], method=str(method or "")[:50]
        )
