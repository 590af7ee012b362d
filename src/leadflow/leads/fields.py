"""Field catalogue of the lead and validation of custom field values (pure, no ORM)."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# Standard lead fields a source may send, with the normalized fields derived from them.
STANDARD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "company_domain",
    "job_title",
    "website",
    "country",
    "region",
    "city",
    "industry",
    "company_size",
    "annual_revenue",
    "budget",
    "purchase_timeframe",
    "product_interest",
    "language",
    "timezone",
)
DERIVED_FIELDS = ("email_normalized", "phone_e164")

ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
    "gclid",
    "fbclid",
    "msclkid",
)

TRUE_WORDS = {"true", "yes", "y", "1", "on"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}


@dataclass(frozen=True)
class CustomFieldSpec:
    key: str
    label: str
    field_type: str
    choices: list[str] = field(default_factory=list)


class CustomValueError(ValueError):
    """A custom field value that does not fit its type; str(err) is the user-facing message."""


def validate_custom_value(spec: CustomFieldSpec, value: object) -> str | float | bool | None:
    """The JSON value stored for `value` in a custom field, or CustomValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if spec.field_type == "text":
        if isinstance(value, dict | list):
            raise CustomValueError(f"{spec.label} must be text.")
        return str(value).strip()[:1000]
    if spec.field_type == "number":
        try:
            number = Decimal(str(value).replace(",", "").strip())
        except InvalidOperation:
            raise CustomValueError(f"{spec.label} must be a number.") from None
        if isinstance(value, bool) or not number.is_finite():
            raise CustomValueError(f"{spec.label} must be a number.")
        return int(number) if number == number.to_integral_value() else float(number)
    if spec.field_type == "date":
        try:
            return dt.date.fromisoformat(str(value).strip()[:10]).isoformat()
        except ValueError:
            raise CustomValueError(f"{spec.label} must be a date (YYYY-MM-DD).") from None
    if spec.field_type == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise CustomValueError(f"{spec.label} must be yes or no.")
    if spec.field_type == "choice":
        text = str(value).strip()
        for choice in spec.choices:
            if choice.lower() == text.lower():
                return choice
        raise CustomValueError(f"{spec.label} must be one of: {', '.join(spec.choices)}.")
    raise CustomValueError(f"{spec.label} has an unknown type {spec.field_type!r}.")


def validate_custom_values(
    specs: Mapping[str, CustomFieldSpec], values: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, str]]:
    """Validated values by key, and messages by key for the ones that don't fit."""
    clean: dict[str, object] = {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        try:
            clean[key] = validate_custom_value(specs[key], raw)
        except CustomValueError as err:
            errors[f"custom.{key}"] = str(err)
    return clean, errors
