"""Pure normalization and validation of incoming lead data.

No Django here: this module is plain Python so that it stays fast, easy to test and usable from any layer.
Lookup tables are built once at import time; the expensive parsers are memoised with ``functools.lru_cache``.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import idna
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "FREE_MAIL_DOMAINS",
    "NormalizationError",
    "NormalizedLead",
    "clean_name",
    "clean_text",
    "domain_of_email",
    "is_free_mail",
    "normalize_annual_revenue",
    "normalize_country",
    "normalize_domain",
    "normalize_email",
    "normalize_language",
    "normalize_lead_fields",
    "normalize_phone",
    "normalize_timezone",
]

_CACHE_SIZE = 4096


class NormalizationError(ValueError):
    """A value that cannot be made valid; str(err) is a clear, user-facing message."""


# ------------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------------


def _build_text_table() -> dict[int, str | None]:
    """Translation table: whitespace controls -> space; other controls, surrogates, invisibles -> dropped."""
    table: dict[int, str | None] = {}
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]:
        table[code] = " " if chr(code).isspace() else None
    for code in range(0xD800, 0xE000):  # lone surrogates cannot be stored or encoded
        table[code] = None
    for code in (0x200B, 0x2060, 0xFEFF):  # zero-width space, word joiner, byte order mark
        table[code] = None
    return table


_TEXT_TABLE = _build_text_table()


def clean_text(value: str, *, max_length: int) -> str:
    """Strip, collapse whitespace runs to one space, drop control characters (NFC), truncate to max_length."""
    text = unicodedata.normalize("NFC", value.translate(_TEXT_TABLE))
    text = " ".join(text.split())
    if len(text) > max_length:
        text = text[:max_length].rstrip()
    return text


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------

# Lower-case name particles; kept lower-case when neither the first nor the last word of the name.
_NAME_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "del", "della", "di", "da", "das", "dos", "du", "des", "la", "le",
     "ten", "ter", "zu", "af", "av"}
)  # fmt: skip
_APOSTROPHES = ("'", "\u2019")
_ROMAN_SUFFIXES = frozenset({"ii", "iii", "iv"})


def _cap(part: str) -> str:
    """Upper-case the first character (when that maps to exactly one character)."""
    if not part:
        return part
    first = part[0].upper()
    return (first if len(first) == 1 else part[0]) + part[1:]


def _title_part(part: str) -> str:
    """Title-case one hyphen-free piece of an already lower-cased name: O'Brien, McDonald, D'Angelo."""
    for apostrophe in _APOSTROPHES:
        head, sep, tail = part.partition(apostrophe)
        if sep and len(head) == 1 and tail:
            return _cap(head) + sep + _title_part(tail)
    if len(part) > 2 and part.startswith("mc") and part[2].isalpha():
        return "Mc" + _cap(part[2:])
    return _cap(part)


def _title_name(name: str) -> str:
    """Title-case a whole lower-cased name with care for particles, hyphens and generational suffixes."""
    words = name.split(" ")
    last = len(words) - 1
    out: list[str] = []
    for index, word in enumerate(words):
        if 0 < index < last and word in _NAME_PARTICLES:
            out.append(word)
        elif index > 0 and word in _ROMAN_SUFFIXES:
            out.append(word.upper())
        else:
            out.append("-".join(_title_part(part) for part in word.split("-")))
    return " ".join(out)


@lru_cache(maxsize=_CACHE_SIZE)
def clean_name(value: str) -> str:
    """Collapse whitespace and fix ALL-CAPS / all-lower names to title case; mixed case is kept as typed.

    Returns '' for blank input.
    """
    text = clean_text(value, max_length=len(value) + 1)
    has_upper = has_lower = False
    for char in text:
        if char.isupper():
            has_upper = True
        elif char.islower():
            has_lower = True
    if has_upper == has_lower:  # mixed case is kept as typed; caseless scripts have nothing to fix
        return text
    return unicodedata.normalize("NFC", _title_name(text.lower()))


# ------------------------------------------------------------------------------------------------
# Email
# ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_email(value: str) -> tuple[str, str]:
    """Return ``(email, email_normalized)``: email-validator's normalized form, and that fully lower-cased.

    Syntax only (``check_deliverability=False``): never any DNS lookup.
    """
    try:
        validated = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise NormalizationError(f"The email address is not valid: {exc}") from None
    email = validated.normalized
    return email, email.lower()


def domain_of_email(email_normalized: str) -> str:
    """The part after the last '@'."""
    return email_normalized.rpartition("@")[2]


FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google, Microsoft, Yahoo, Apple, AOL
        "gmail.com", "googlemail.com", "outlook.com", "outlook.de", "outlook.fr", "hotmail.com",
        "hotmail.co.uk", "hotmail.de", "hotmail.fr", "hotmail.it", "hotmail.es", "live.com", "live.co.uk",
        "live.de", "live.fr", "msn.com", "yahoo.com", "yahoo.co.uk", "yahoo.de", "yahoo.fr", "yahoo.es",
        "yahoo.it", "yahoo.co.jp", "yahoo.com.br", "ymail.com", "rocketmail.com", "icloud.com", "me.com",
        "mac.com", "aol.com", "aim.com",
        # Privacy / independent providers
        "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io",
        "fastmail.com", "hey.com", "zoho.com", "zohomail.com", "mail.com", "email.com", "hushmail.com",
        # Europe
        "gmx.com", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de",
        "posteo.de", "mailbox.org", "orange.fr", "free.fr", "laposte.net", "wanadoo.fr", "sfr.fr",
        "libero.it", "virgilio.it", "btinternet.com", "seznam.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl",
        # Russia, Asia, Americas
        "mail.ru", "inbox.ru", "list.ru", "bk.ru", "yandex.ru", "yandex.com", "ya.ru", "qq.com", "163.com",
        "126.com", "sina.com", "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "comcast.net",
        "verizon.net", "att.net", "sbcglobal.net", "bol.com.br", "uol.com.br",
    }
)  # fmt: skip

# Providers that run the same consumer service under many country domains (yahoo.com.ar, hotmail.co.th, ...).
_FREE_MAIL_FAMILIES = frozenset(
    {"gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "gmx", "yandex"}
)
_SECOND_LEVEL_SUFFIXES = frozenset({"co", "com", "ne", "net", "or", "org"})


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` belongs to a consumer (free) mailbox provider rather than a company."""
    domain = domain.strip().rstrip(".").lower()
    if domain in FREE_MAIL_DOMAINS:
        return True
    labels = domain.split(".")
    if labels[0] not in _FREE_MAIL_FAMILIES:
        return False
    return len(labels) == 2 or (len(labels) == 3 and labels[1] in _SECOND_LEVEL_SUFFIXES)


# ------------------------------------------------------------------------------------------------
# Phone
# ------------------------------------------------------------------------------------------------

_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown or missing country calling code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "the area code is missing",
}


@lru_cache(maxsize=_CACHE_SIZE)
def _normalize_phone(value: str, region: str) -> str:
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it could not be parsed")
        raise NormalizationError(f"The phone number is not valid: {reason}.") from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result != phonenumbers.ValidationResult.IS_POSSIBLE:
        reason = _POSSIBLE_REASONS.get(result, "it is not a possible number")
        raise NormalizationError(f"The phone number is not valid: {reason}.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not _E164_RE.fullmatch(e164) or (e164 != text and _normalize_phone(e164, region) != e164):
        # Degenerate input such as '+49 000000' does not survive a round trip through E.164.
        raise NormalizationError("The phone number is not valid: it has the wrong number of digits.")
    return e164


def normalize_phone(value: str, *, default_region: str, country: str | None = None) -> str:
    """Return the number in E.164 form (e.g. '+14155550123').

    Numbers without a '+' (or '00') prefix are read as national numbers of ``country`` (the lead's ISO
    alpha-2, when phonenumbers knows it) else of ``default_region``. Extensions are dropped. Checks
    ``is_possible_number`` (length), not ``is_valid_number``, so fictional numbers like +1 415 555 0123 pass.
    """
    region = (country or "").upper()
    if region not in _SUPPORTED_REGIONS:
        region = default_region.upper()
    return _normalize_phone(value, region)


# ------------------------------------------------------------------------------------------------
# Country
# ------------------------------------------------------------------------------------------------

_KEY_DROP_RE = re.compile(r"[.'\u2019`\u00b4]")
_KEY_SPACE_RE = re.compile(r"[\s,()\[\]/\-_;:]+")
_PARENTHESIS_RE = re.compile(r"\s*\([^)]*\)")

# Common names that pycountry's name / official_name / common_name do not cover.
_COUNTRY_ALIASES = {
    "america": "US", "united states of america": "US", "us of a": "US", "usa": "US", "u s": "US",
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "united kingdom of great britain": "GB",
    "korea": "KR", "republic of korea": "KR", "korea south": "KR", "korea north": "KP",
    "russia": "RU", "czech republic": "CZ", "turkey": "TR", "turkiye": "TR", "vietnam": "VN",
    "iran": "IR", "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ",
    "moldova": "MD", "taiwan": "TW", "brunei": "BN", "micronesia": "FM", "palestine": "PS",
    "ivory coast": "CI", "cape verde": "CV", "macedonia": "MK", "swaziland": "SZ", "burma": "MM",
    "holland": "NL", "vatican": "VA", "vatican city": "VA", "holy see": "VA", "macau": "MO",
    "uae": "AE", "emirates": "AE", "dr congo": "CD", "drc": "CD", "democratic republic of congo": "CD",
    "democratic republic of the congo": "CD", "congo kinshasa": "CD", "congo brazzaville": "CG",
    "republic of congo": "CG", "east timor": "TL", "falkland islands": "FK", "saint martin": "MF",
    "sint maarten": "SX", "british virgin islands": "VG", "us virgin islands": "VI",
    "deutschland": "DE", "osterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "espana": "ES", "italia": "IT", "nederland": "NL", "belgique": "BE", "belgie": "BE", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "polska": "PL", "brasil": "BR", "mexique": "MX",
    "nippon": "JP", "hrvatska": "HR", "magyarorszag": "HU", "ellada": "GR", "hellas": "GR",
}  # fmt: skip


def _country_key(value: str) -> str:
    """Loose lookup key: case-folded, no accents or punctuation, 'St' -> 'saint', no leading 'the'."""
    text = unicodedata.normalize("NFKD", value.casefold())
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _KEY_DROP_RE.sub("", text.replace("&", " and "))
    words = _KEY_SPACE_RE.sub(" ", text).split()
    if words and words[0] == "the":
        words = words[1:]
    if len(words) > 1:
        words = ["saint" if word in ("st", "ste") else word for word in words]
    return " ".join(words)


def _build_country_table() -> dict[str, str]:
    """Map every loose key (codes, names, inverted 'Korea, Republic of' names, aliases) to alpha-2."""
    table: dict[str, str] = {}
    for country in pycountry.countries:
        alpha_2: str = country.alpha_2
        names = [getattr(country, attr, None) for attr in ("name", "official_name", "common_name")]
        for name in names:
            if not name:
                continue
            variants = {name, _PARENTHESIS_RE.sub("", name)}
            head, sep, tail = name.partition(", ")
            if sep:
                variants.add(f"{tail} {head}")
            for variant in variants:
                table.setdefault(_country_key(variant), alpha_2)
    for alias, alpha_2 in _COUNTRY_ALIASES.items():
        table.setdefault(_country_key(alias), alpha_2)
    for country in pycountry.countries:  # codes win over any clashing name
        table[country.alpha_2.casefold()] = country.alpha_2
        table[country.alpha_3.casefold()] = country.alpha_2
        table[country.numeric] = country.alpha_2
    return table


_COUNTRIES = _build_country_table()


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2 (upper case) from an alpha-2/alpha-3/numeric code or an English/common name."""
    key = _country_key(value)
    if key.isdigit() and key.isascii() and len(key) <= 3:
        key = key.zfill(3)
    try:
        return _COUNTRIES[key]
    except KeyError:
        raise NormalizationError(f"Unknown country: '{value.strip()}'") from None


# ------------------------------------------------------------------------------------------------
# Domain
# ------------------------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//", re.IGNORECASE)
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
_PATH_START_RE = re.compile(r"[/?#\\]")


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_domain(value: str) -> str:
    """Bare, lower-case, IDNA (punycode) host name from a website URL or domain.

    Strips scheme, credentials, port, path, query, fragment, trailing dot and leading 'www.' labels.
    """
    text = _SCHEME_RE.sub("", value.strip(), count=1)
    text = _PATH_START_RE.split(text, maxsplit=1)[0]
    text = text.rpartition("@")[2]
    host, sep, port = text.rpartition(":")
    if sep and (port.isdigit() or not port) and port.isascii():
        text = host
    text = text.strip()
    if text.endswith("."):
        text = text[:-1]
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise NormalizationError(f"'{value.strip()}' is not a valid domain name.") from None
    text = text.lower()
    while text.startswith("www.") and "." in text[4:]:
        text = text[4:]
    labels = text.split(".")
    if (
        len(labels) < 2
        or len(text) > 253
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise NormalizationError(f"'{value.strip()}' is not a valid domain name.")
    return text


# ------------------------------------------------------------------------------------------------
# Time zone, language, revenue
# ------------------------------------------------------------------------------------------------

_TIME_ZONES = {name.casefold(): name for name in zoneinfo.available_timezones()}


def normalize_timezone(value: str) -> str:
    """Canonical IANA time zone name (case-insensitive match), e.g. 'europe/berlin' -> 'Europe/Berlin'."""
    try:
        return _TIME_ZONES[value.strip().casefold()]
    except KeyError:
        raise NormalizationError("Unknown time zone") from None


def normalize_language(value: str) -> str:
    """Lower-case BCP-47-ish tag: 'pt_BR' -> 'pt-br'."""
    return clean_text(value, max_length=20).replace("_", "-").lower()


_REVENUE_RE = re.compile(
    r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*"
    r"(?P<suffix>k|thousand|m|mm|mn|mio|million|millions|b|bn|billion|billions)?",
    re.ASCII | re.IGNORECASE,
)
_REVENUE_MULTIPLIERS = {
    "": 1, "k": 10**3, "thousand": 10**3, "m": 10**6, "mm": 10**6, "mn": 10**6, "mio": 10**6,
    "million": 10**6, "millions": 10**6, "b": 10**9, "bn": 10**9, "billion": 10**9, "billions": 10**9,
}  # fmt: skip
_CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_SPACING_CHARS = str.maketrans("", "", "'_ \u00a0\u202f\u2009")
_DECIMAL_COMMA_RE = re.compile(r"[0-9]*,[0-9]{1,2}(?![0-9])", re.ASCII)
_MAX_REVENUE = Decimal(10) ** 15


def _unify_separators(text: str) -> str:
    """Drop thousands separators and turn a decimal comma into a dot: '1.000,50' / '1,000.50' -> '1000.50'."""
    if "," in text and "." in text:
        grouping = "," if text.rfind(",") < text.rfind(".") else "."
        text = text.replace(grouping, "")
        return text.replace(",", ".")
    if "," in text:
        if text.count(",") == 1 and _DECIMAL_COMMA_RE.match(text):
            return text.replace(",", ".")
        return text.replace(",", "")
    if text.count(".") > 1:
        return text.replace(".", "")
    return text


def normalize_annual_revenue(value: str) -> str:
    """Plain decimal string from '1,000,000', '1.5M', '2k', '$250000', 'EUR 250000.50' (at most 2 decimals).

    Thousands separators may be ',', '.', ' ' or "'"; a comma followed by 1-2 digits is a decimal comma.
    """
    text = value.strip()
    if text[:3].upper() in _CURRENCY_CODES:
        text = text[3:]
    elif text[-3:].upper() in _CURRENCY_CODES:
        text = text[:-3]
    text = text.strip().strip("".join(c for c in text if unicodedata.category(c) == "Sc")).strip()
    text = _unify_separators(text.translate(_SPACING_CHARS))
    match = _REVENUE_RE.fullmatch(text)
    if match is None:
        raise NormalizationError("Annual revenue must be a number")
    try:
        amount = Decimal(match["number"]) * _REVENUE_MULTIPLIERS[(match["suffix"] or "").lower()]
    except InvalidOperation:
        raise NormalizationError("Annual revenue must be a number") from None
    if amount >= _MAX_REVENUE:
        raise NormalizationError("Annual revenue is too large")
    exponent = amount.as_tuple().exponent
    if match["suffix"] or (isinstance(exponent, int) and exponent < -2):
        amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if amount == amount.to_integral_value():
            amount = amount.quantize(Decimal(1))
    return format(amount, "f")


# ------------------------------------------------------------------------------------------------
# Whole lead
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalizedLead:
    """Cleaned standard fields (plus derived keys) and user-facing errors for fields that cannot be fixed."""

    values: dict[str, str]
    errors: dict[str, str]


_NAME_FIELDS = ("first_name", "last_name")
_TEXT_FIELDS = {
    "company": 200,
    "job_title": 200,
    "industry": 100,
    "city": 100,
    "region": 100,
    "company_size": 100,
    "budget": 100,
    "purchase_timeframe": 100,
    "product_interest": 100,
}
_NAME_MAX_LENGTH = 100
_PHONE_MAX_LENGTH = 50
_WEBSITE_MAX_LENGTH = 300
_INPUT_MAX_LENGTH = 1000  # raw strings are cut to this before any parsing


def _text(data: Mapping[str, object], key: str) -> str:
    """The field as cleaned text; '' when absent, None or blank."""
    raw = data.get(key)
    if raw is None:
        return ""
    return clean_text(raw if isinstance(raw, str) else str(raw), max_length=_INPUT_MAX_LENGTH)


def normalize_lead_fields(data: Mapping[str, object], *, default_region: str) -> NormalizedLead:
    """Normalize the standard lead fields present in ``data``; other keys are ignored.

    Invalid fields are reported in ``errors`` and left out of ``values``; blank fields are simply absent.
    """
    values: dict[str, str] = {}
    errors: dict[str, str] = {}

    for key in _NAME_FIELDS:
        name = clean_name(_text(data, key))[:_NAME_MAX_LENGTH].rstrip()
        if name:
            values[key] = name

    for key, max_length in _TEXT_FIELDS.items():
        text = _text(data, key)[:max_length].rstrip()
        if text:
            values[key] = text

    if country := _text(data, "country"):
        try:
            values["country"] = normalize_country(country)
        except NormalizationError as exc:
            errors["country"] = str(exc)

    if email := _text(data, "email"):
        try:
            values["email"], values["email_normalized"] = normalize_email(email)
        except NormalizationError as exc:
            errors["email"] = str(exc)

    if phone := _text(data, "phone"):
        try:
            e164 = normalize_phone(phone, default_region=default_region, country=values.get("country"))
        except NormalizationError as exc:
            errors["phone"] = str(exc)
        else:
            values["phone"] = phone[:_PHONE_MAX_LENGTH].rstrip()
            values["phone_e164"] = e164

    if company_domain := _text(data, "company_domain"):
        try:
            values["company_domain"] = normalize_domain(company_domain)
        except NormalizationError as exc:
            errors["company_domain"] = str(exc)

    if website := _text(data, "website"):
        try:
            website_domain = normalize_domain(website)
        except NormalizationError:
            errors["website"] = f"The website is not a valid web address: '{website[:100]}'."
        else:
            values["website"] = website[:_WEBSITE_MAX_LENGTH].rstrip()
            if not company_domain:
                values["company_domain"] = website_domain

    if "email_normalized" in values and not company_domain and "company_domain" not in values:
        try:
            email_domain = normalize_domain(domain_of_email(values["email_normalized"]))
        except NormalizationError:
            pass
        else:
            if not is_free_mail(email_domain):
                values["company_domain"] = email_domain

    if language := normalize_language(_text(data, "language")):
        values["language"] = language

    if timezone := _text(data, "timezone"):
        try:
            values["timezone"] = normalize_timezone(timezone)
        except NormalizationError as exc:
            errors["timezone"] = str(exc)

    if revenue := _text(data, "annual_revenue"):
        try:
            values["annual_revenue"] = normalize_annual_revenue(revenue)
        except NormalizationError as exc:
            errors["annual_revenue"] = str(exc)

    return NormalizedLead(values=values, errors=errors)
