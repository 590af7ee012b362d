"""Column mapping of import files (pure: no Django).

`suggest_mapping` recognises common headers, including the export headers of Salesforce, HubSpot,
Pipedrive, Zoho and Mailchimp; `row_payload` turns one row into an intake payload with a mapping.
A mapping is {header: target}; a target is a standard lead field, `full_name` (split into first and
last name), `external_id`, an attribution field, `custom.<key>`, `extra` (kept under the header's
name in the lead's extra data) or "" (ignored).
"""

import re
from collections.abc import Iterable, Mapping

from leadflow.leads.fields import ATTRIBUTION_FIELDS, STANDARD_FIELDS

SPECIAL_TARGETS = ("full_name", "external_id", "extra")


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", header.lower())


# Normalized header → target. Keys are headers with everything but letters and digits removed.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": (
        "firstname",
        "first",
        "givenname",
        "forename",
        "vorname",
        "prenom",
        "personfirstname",
        "contactfirstname",
    ),
    "last_name": (
        "lastname",
        "last",
        "surname",
        "familyname",
        "nachname",
        "nom",
        "personlastname",
        "contactlastname",
    ),
    "full_name": ("name", "fullname", "contactname", "personname", "leadname", "displayname"),
    "email": (
        "email",
        "emailaddress",
        "email1",
        "emails",
        "mail",
        "workemail",
        "businessemail",
        "personalemail",
        "primaryemail",
        "emailwork",
        "emailhome",
        "emailother",
        "personemail",
        "personemailwork",
        "personemailhome",
        "personemailother",
        "secondaryemail",
    ),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "mobilephonenumber",
        "cellphone",
        "workphone",
        "businessphone",
        "phonework",
        "phonemobile",
        "phonehome",
        "phoneother",
        "personphone",
        "personphonework",
        "personphonemobile",
        "personphonehome",
        "personphoneother",
        "directphone",
    ),
    "company": (
        "company",
        "companyname",
        "account",
        "accountname",
        "organization",
        "organisation",
        "organizationname",
        "personorganization",
        "org",
        "employer",
        "firma",
        "business",
    ),
    "company_domain": ("companydomain", "companydomainname", "domain", "emaildomain"),
    "job_title": ("title", "jobtitle", "position", "designation", "role", "jobrole", "personjobtitle"),
    "website": ("website", "websiteurl", "web", "url", "homepage", "companywebsite", "site"),
    "country": ("country", "countryregion", "countrycode", "mailingcountry", "billingcountry", "land"),
    "region": (
        "state",
        "region",
        "province",
        "stateprovince",
        "stateregion",
        "county",
        "mailingstate",
        "billingstate",
    ),
    "city": ("city", "town", "mailingcity", "billingcity", "locality", "ort", "ville"),
    "industry": ("industry", "sector", "vertical"),
    "company_size": (
        "companysize",
        "employees",
        "noofemployees",
        "numberofemployees",
        "numemployees",
        "employeecount",
        "headcount",
    ),
    "annual_revenue": ("annualrevenue", "revenue", "companyrevenue"),
    "budget": ("budget",),
    "purchase_timeframe": ("purchasetimeframe", "timeframe", "timeline"),
    "product_interest": ("productinterest", "interest", "product", "interestedin"),
    "language": ("language", "preferredlanguage", "locale"),
    "timezone": ("timezone", "tz", "iptimezone"),
    "external_id": (
        "externalid",
        "id",
        "leadid",
        "recordid",
        "contactid",
        "personid",
        "crmid",
        "zohoid",
        "leid",
        "euid",
        "uniqueemailid",
    ),
    "utm_source": ("utmsource", "leadsource", "source", "originalsource", "latestsource"),
    "utm_medium": ("utmmedium", "medium"),
    "utm_campaign": ("utmcampaign", "campaign", "campaignname"),
    "utm_term": ("utmterm", "term", "keyword"),
    "utm_content": ("utmcontent", "content"),
    "referrer": ("referrer", "referer", "referringurl"),
    "landing_page": ("landingpage", "landingpageurl", "firstpageseen"),
    "gclid": ("gclid", "googleclickid"),
    "fbclid": ("fbclid",),
    "msclkid": ("msclkid",),
}
_BY_KEY = {key: target for target, keys in _SYNONYMS.items() for key in keys}
_TARGET_KEYS = {_key(t) for t in (*STANDARD_FIELDS, *ATTRIBUTION_FIELDS)}
RESERVED_KEYS = {"custom", "attribution", "consent", "external_id", "source"}


def mapping_targets(custom_keys: Iterable[str] = ()) -> list[str]:
    """Every target a column can map to ("" ignores the column)."""
    return [
        "",
        *STANDARD_FIELDS,
        *SPECIAL_TARGETS,
        *ATTRIBUTION_FIELDS,
        *(f"custom.{key}" for key in custom_keys),
    ]


def suggest_target(header: str, custom_keys: Iterable[str] = ()) -> str:
    key = _key(header)
    for custom_key in custom_keys:
        if key == _key(custom_key):
            return f"custom.{custom_key}"
    if key in _BY_KEY:
        return _BY_KEY[key]
    for target in (*STANDARD_FIELDS, *ATTRIBUTION_FIELDS):
        if key == _key(target):
            return target
    return ""


def suggest_mapping(headers: Iterable[str], custom_keys: Iterable[str] = ()) -> dict[str, str]:
    """The likely target of every header; a target claimed by an earlier column is not given twice,
    except for email and phone, where later columns are fall-backs when the first is empty."""
    custom = list(custom_keys)
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for header in headers:
        target = suggest_target(header, custom)
        if target in taken and target not in ("email", "phone"):
            target = ""
        if target:
            taken.add(target)
        mapping[header] = target
    return mapping


def validate_mapping(mapping: Mapping[str, str], custom_keys: Iterable[str] = ()) -> dict[str, str]:
    """Errors by header for targets that do not exist."""
    allowed = set(mapping_targets(custom_keys))
    return {
        header: f"Unknown target {target!r}." for header, target in mapping.items() if target not in allowed
    }


def split_full_name(full: str) -> tuple[str, str]:
    """ "Ada Lovelace" → ("Ada", "Lovelace"); "Lovelace, Ada" → ("Ada", "Lovelace")."""
    full = " ".join(full.split())
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.rpartition(" ")
    return (first, last) if first else (last, "")


def row_payload(cells: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, object]:
    """The intake payload of one row. The first non-empty column wins when several share a target."""
    payload: dict[str, object] = {}
    custom: dict[str, str] = {}
    extra: dict[str, str] = {}
    full_name = ""
    for header, target in mapping.items():
        value = (cells.get(header) or "").strip()
        if not target or not value:
            continue
        if target == "full_name":
            full_name = full_name or value
        elif target == "extra":
            extra[header[:100]] = value
        elif target.startswith("custom."):
            custom.setdefault(target.removeprefix("custom."), value)
        else:
            payload.setdefault(target, value)
    if full_name:
        first, last = split_full_name(full_name)
        if first:
            payload.setdefault("first_name", first)
        if last:
            payload.setdefault("last_name", last)
    if custom:
        payload["custom"] = custom
    for header, value in extra.items():
        taken = header in payload or header in RESERVED_KEYS or _key(header) in _TARGET_KEYS
        payload.setdefault(f"column:{header}" if taken else header, value)
    return payload
