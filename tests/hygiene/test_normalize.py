"""Tests for leadflow.hygiene.normalize (pure Python: no Django, no database)."""

from __future__ import annotations

import re
import string

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.hygiene.normalize import (
    FREE_MAIL_DOMAINS,
    NormalizationError,
    NormalizedLead,
    clean_name,
    clean_text,
    domain_of_email,
    is_free_mail,
    normalize_annual_revenue,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_language,
    normalize_lead_fields,
    normalize_phone,
    normalize_timezone,
)

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")

# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------

_local_alphabet = st.sampled_from(string.ascii_letters + string.digits + "._+-" + "äöüßéñçøåÄÖÜÉ")
_labels = st.text(alphabet=string.ascii_lowercase + string.digits + "äöüéñ", min_size=1, max_size=12)
_tlds = st.sampled_from(["com", "de", "org", "co.uk", "io", "fr", "net"])

unicode_emails = st.builds(
    lambda local, label, tld: f"{local}@{label}.{tld}",
    st.text(alphabet=_local_alphabet, min_size=1, max_size=20),
    _labels,
    _tlds,
)

phone_like = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["", "+", "00", "+1 ", "+44 ", "+49 ", "(0", "0"]),
    st.text(alphabet=string.digits + " -.()", min_size=1, max_size=20),
)

domain_like = st.one_of(
    st.builds(
        lambda scheme, www, labels, tld, rest: f"{scheme}{www}{'.'.join(labels)}.{tld}{rest}",
        st.sampled_from(["", "http://", "https://", "HTTPS://", "//"]),
        st.sampled_from(["", "www.", "WWW.", "www.www."]),
        st.lists(_labels, min_size=1, max_size=3),
        _tlds,
        st.sampled_from(["", "/", "/path?q=1", ":8080", ".", "#top"]),
    ),
    st.text(max_size=40),
)

LEAD_KEYS = [
    "first_name", "last_name", "email", "phone", "company", "website", "company_domain", "job_title",
    "industry", "city", "region", "country", "language", "timezone", "company_size", "budget",
    "purchase_timeframe", "product_interest", "annual_revenue", "unrelated_extra",
]  # fmt: skip


# ------------------------------------------------------------------------------------------------
# normalize_email
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "email", "email_normalized"),
    [
        ("john.doe@example.com", "john.doe@example.com", "john.doe@example.com"),
        ("John.Doe@Example.COM", "John.Doe@example.com", "john.doe@example.com"),
        ("  jane+newsletter@Example.org ", "jane+newsletter@example.org", "jane+newsletter@example.org"),
        ("Jörg.Müller@Bücher.DE", "Jörg.Müller@bücher.de", "jörg.müller@bücher.de"),
        ("ÄRGER@gmx.de", "ÄRGER@gmx.de", "ärger@gmx.de"),
    ],
)
def test_normalize_email_examples(raw: str, email: str, email_normalized: str) -> None:
    assert normalize_email(raw) == (email, email_normalized)


@pytest.mark.parametrize(
    "raw", ["", "john", "john@", "@example.com", "a@b", "a@@example.com", "a b@example.com"]
)
def test_normalize_email_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError, match=r"^The email address is not valid: .+"):
        normalize_email(raw)


def test_normalize_email_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        normalize_email("not an email")


@given(st.one_of(st.emails(), unicode_emails))
def test_normalize_email_idempotent(raw: str) -> None:
    try:
        email, normalized = normalize_email(raw)
    except NormalizationError:
        return
    assert normalize_email(email) == (email, normalized)
    assert normalized == email.lower()
    assert normalize_email(normalized)[1] == normalized


@given(st.text(max_size=80))
def test_normalize_email_only_raises_normalization_error(raw: str) -> None:
    try:
        email, normalized = normalize_email(raw)
    except NormalizationError as exc:
        assert str(exc)
    else:
        assert "@" in email
        assert normalized == email.lower()


def test_domain_of_email() -> None:
    assert domain_of_email("john@example.com") == "example.com"
    assert domain_of_email("odd@local@example.org") == "example.org"


# ------------------------------------------------------------------------------------------------
# normalize_phone
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "country", "expected"),
    [
        ("(415) 555-0123", "US", None, "+14155550123"),
        ("415.555.0123", "US", None, "+14155550123"),
        ("+1 415 555 0123", "DE", None, "+14155550123"),
        ("+1 (415) 555-0123 ext. 42", "US", None, "+14155550123"),
        ("415-555-0123 x42", "US", None, "+14155550123"),
        ("+44 20 7946 0958", "US", None, "+442079460958"),
        ("0049 30 123456", "US", None, "+4930123456"),
        ("030 123456", "US", "DE", "+4930123456"),
        ("030 123456", "DE", None, "+4930123456"),
        ("020 7946 0958", "US", "gb", "+442079460958"),
        ("011 44 20 7946 0958", "US", None, "+442079460958"),
        ("+4930123456", "FR", "US", "+4930123456"),
        ("(415) 555-0123", "US", "AQ", "+14155550123"),  # no phone metadata for AQ -> default region
    ],
)
def test_normalize_phone_examples(raw: str, region: str, country: str | None, expected: str) -> None:
    assert normalize_phone(raw, default_region=region, country=country) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "12", "555-0123", "+999 123 456 789", "1" * 30, "call me maybe", "+49 000000", "+49 0000000"],
)
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError, match=r"^The phone number is not valid: .+"):
        normalize_phone(raw, default_region="US")


@given(phone_like, st.sampled_from(["US", "DE", "GB", "FR", "IN", "BR", "JP"]))
def test_normalize_phone_e164_and_idempotent(raw: str, region: str) -> None:
    try:
        e164 = normalize_phone(raw, default_region=region)
    except NormalizationError:
        return
    assert E164_RE.match(e164)
    assert normalize_phone(e164, default_region=region) == e164
    assert normalize_phone(e164, default_region="US", country="JP") == e164


@given(st.text(max_size=40))
def test_normalize_phone_only_raises_normalization_error(raw: str) -> None:
    try:
        e164 = normalize_phone(raw, default_region="US")
    except NormalizationError:
        return
    assert E164_RE.match(e164)


# ------------------------------------------------------------------------------------------------
# clean_name / clean_text
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JOHN SMITH", "John Smith"),
        ("john smith", "John Smith"),
        ("  john \t  smith \n", "John Smith"),
        ("o'brien", "O'Brien"),
        ("O'BRIEN", "O'Brien"),
        ("o\u2019neill", "O\u2019Neill"),
        ("d'angelo", "D'Angelo"),
        ("jean-luc picard", "Jean-Luc Picard"),
        ("MARY-JANE WATSON", "Mary-Jane Watson"),
        ("mcdonald", "McDonald"),
        ("ludwig van beethoven", "Ludwig van Beethoven"),
        ("Ludwig van Beethoven", "Ludwig van Beethoven"),
        ("LUDWIG VAN BEETHOVEN", "Ludwig van Beethoven"),
        ("van der berg", "Van der Berg"),
        ("anna de la cruz", "Anna de la Cruz"),
        ("otto von bismarck", "Otto von Bismarck"),
        ("JOHN SMITH III", "John Smith III"),
        ("DeShawn", "DeShawn"),
        ("McAllister", "McAllister"),
        ("MacKenzie", "MacKenzie"),
        ("JOSÉ ÁLVAREZ", "José Álvarez"),
        ("zoë saldaña", "Zoë Saldaña"),
        ("MÜLLER-LÜDENSCHEIDT", "Müller-Lüdenscheidt"),
        ("ΣΩΚΡΆΤΗΣ", "Σωκράτης"),
        ("李小龍", "李小龍"),
        ("Björk", "Björk"),
        ("", ""),
        ("   \t\n ", ""),
        ("j", "J"),
        ("İİ", "İi\u0307"),  # dotted capital I lower-cases to i + combining dot; result must stay stable
    ],
)
def test_clean_name_examples(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@given(st.text(max_size=60))
def test_clean_name_idempotent_and_tidy(raw: str) -> None:
    cleaned = clean_name(raw)
    assert clean_name(cleaned) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert not any(ch in cleaned for ch in "\t\n\r\x00\x0b\x0c")


@given(
    st.lists(
        st.sampled_from(["JOHN", "mary", "o'neil", "van", "DE", "jean-luc", "mcfly", "x", "III"]), max_size=5
    )
)
def test_clean_name_idempotent_on_name_like_input(words: list[str]) -> None:
    cleaned = clean_name(" ".join(words))
    assert clean_name(cleaned) == cleaned


@pytest.mark.parametrize(
    ("raw", "max_length", "expected"),
    [
        ("  Acme   Inc. ", 200, "Acme Inc."),
        ("line one\r\nline two\ttabbed", 200, "line one line two tabbed"),
        ("null\x00byte\x07bell", 200, "nullbytebell"),
        ("zero\u200bwidth\ufeff", 200, "zerowidth"),
        ("abcdef", 3, "abc"),
        ("abc def", 4, "abc"),
        ("Cafe\u0301", 10, "Café"),
        ("", 10, ""),
    ],
)
def test_clean_text_examples(raw: str, max_length: int, expected: str) -> None:
    assert clean_text(raw, max_length=max_length) == expected


@given(st.text(max_size=80), st.integers(min_value=1, max_value=50))
def test_clean_text_properties(raw: str, max_length: int) -> None:
    cleaned = clean_text(raw, max_length=max_length)
    assert len(cleaned) <= max_length
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert clean_text(cleaned, max_length=max_length) == cleaned
    cleaned.encode("utf-8")  # no lone surrogates


# ------------------------------------------------------------------------------------------------
# normalize_country
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Germany", "DE"),
        ("germany", "DE"),
        ("  GERMANY ", "DE"),
        ("DEU", "DE"),
        ("DE", "DE"),
        ("de", "DE"),
        ("276", "DE"),
        ("40", "AT"),
        ("040", "AT"),
        ("United States", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("US", "US"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Republic of Korea", "KR"),
        ("North Korea", "KP"),
        ("Russia", "RU"),
        ("Russian Federation", "RU"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
        ("Iran", "IR"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("The Netherlands", "NL"),
        ("Holland", "NL"),
        ("St. Lucia", "LC"),
        ("Trinidad & Tobago", "TT"),
        ("Bosnia and Herzegovina", "BA"),
        ("UAE", "AE"),
        ("Deutschland", "DE"),
        ("Österreich", "AT"),
        ("Taiwan", "TW"),
        ("Hong Kong", "HK"),
    ],
)
def test_normalize_country_examples(raw: str, expected: str) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize("raw", ["", "Narnia", "XX", "999", "Europe"])
def test_normalize_country_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError, match=r"^Unknown country: '.*'$"):
        normalize_country(raw)


def test_normalize_country_error_message() -> None:
    with pytest.raises(NormalizationError) as info:
        normalize_country(" Narnia ")
    assert str(info.value) == "Unknown country: 'Narnia'"


@pytest.mark.parametrize("country", list(pycountry.countries), ids=lambda country: country.alpha_2)
def test_normalize_country_round_trips_pycountry(country: object) -> None:
    alpha_2: str = country.alpha_2  # type: ignore[attr-defined]
    candidates = [alpha_2, country.alpha_3, country.numeric, country.name]  # type: ignore[attr-defined]
    candidates += [
        getattr(country, attr) for attr in ("official_name", "common_name") if hasattr(country, attr)
    ]
    for candidate in candidates:
        assert normalize_country(candidate) == alpha_2, candidate
        assert normalize_country(candidate.upper()) == alpha_2, candidate
        assert normalize_country(candidate.lower()) == alpha_2, candidate


@given(st.text(max_size=30))
def test_normalize_country_only_raises_normalization_error(raw: str) -> None:
    try:
        code = normalize_country(raw)
    except NormalizationError:
        return
    assert pycountry.countries.get(alpha_2=code) is not None
    assert normalize_country(code) == code


# ------------------------------------------------------------------------------------------------
# normalize_domain / free mail
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("www.example.com", "example.com"),
        ("https://www.Example.com/about?x=1#team", "example.com"),
        ("http://user:secret@shop.example.co.uk:8443/cart", "shop.example.co.uk"),
        ("example.com.", "example.com"),
        ("//cdn.example.org/lib.js", "cdn.example.org"),
        ("https://www.Bücher.de/path", "xn--bcher-kva.de"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ("www.www.example.com", "example.com"),
        ("www.com", "www.com"),
        ("my-company.io", "my-company.io"),
    ],
)
def test_normalize_domain_examples(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "localhost", "http://localhost:8000", "-bad.com", "bad-.com", "exa mple.com", "1.2.3.4", "a..b",
     "a" * 64 + ".com", ".".join(["abcdefghi"] * 26) + ".com", "n/a", "https://", "☃"],
)  # fmt: skip
def test_normalize_domain_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError):
        normalize_domain(raw)


@given(domain_like)
def test_normalize_domain_idempotent(raw: str) -> None:
    try:
        domain = normalize_domain(raw)
    except NormalizationError:
        return
    assert HOSTNAME_RE.match(domain)
    assert len(domain) <= 253
    assert normalize_domain(domain) == domain


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("gmail.com", True),
        ("GMAIL.COM", True),
        ("yahoo.co.uk", True),
        ("yahoo.com.ar", True),
        ("hotmail.it", True),
        ("gmx.de", True),
        ("web.de", True),
        ("proton.me", True),
        ("qq.com", True),
        ("acme.com", False),
        ("mail.acme.com", False),
        ("live.acme.com", False),
        ("xn--bcher-kva.de", False),
    ],
)
def test_is_free_mail(domain: str, expected: bool) -> None:
    assert is_free_mail(domain) is expected


def test_free_mail_domains_are_normalized() -> None:
    assert len(FREE_MAIL_DOMAINS) >= 40
    for domain in FREE_MAIL_DOMAINS:
        assert normalize_domain(domain) == domain


# ------------------------------------------------------------------------------------------------
# Time zone, language, annual revenue
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("UTC", "UTC"),
        (" utc ", "UTC"),
    ],
)
def test_normalize_timezone(raw: str, expected: str) -> None:
    assert normalize_timezone(raw) == expected


@pytest.mark.parametrize("raw", ["", "Mars/Base", "CEST+2", "Berlin"])
def test_normalize_timezone_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError, match=r"^Unknown time zone$"):
        normalize_timezone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"), [("EN", "en"), ("pt-BR", "pt-br"), ("pt_BR", "pt-br"), (" ", "")]
)
def test_normalize_language(raw: str, expected: str) -> None:
    assert normalize_language(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,000,000", "1000000"),
        ("1.5M", "1500000"),
        ("1.5m", "1500000"),
        ("2k", "2000"),
        ("2 K", "2000"),
        ("$250000", "250000"),
        ("250000.50", "250000.50"),
        ("EUR 1.5 million", "1500000"),
        ("3bn", "3000000000"),
        ("€ 1.000.000", "1000000"),
        ("1.000,50 €", "1000.50"),
        ("1'000'000 CHF", "1000000"),
        ("0", "0"),
        ("12.345", "12.35"),
    ],
)
def test_normalize_annual_revenue(raw: str, expected: str) -> None:
    assert normalize_annual_revenue(raw) == expected


@pytest.mark.parametrize("raw", ["", "lots", "-5", "1e6", "NaN", "Infinity", "1.2.3x", "$"])
def test_normalize_annual_revenue_rejects(raw: str) -> None:
    with pytest.raises(NormalizationError, match=r"^Annual revenue must be a number$"):
        normalize_annual_revenue(raw)


def test_normalize_annual_revenue_too_large() -> None:
    with pytest.raises(NormalizationError):
        normalize_annual_revenue("9" * 40)


# ------------------------------------------------------------------------------------------------
# normalize_lead_fields
# ------------------------------------------------------------------------------------------------

FULL_LEAD: dict[str, object] = {
    "first_name": "  JEAN-LUC ",
    "last_name": "o'brien",
    "email": "Jean-Luc.OBrien+demo@Acme-Robotics.COM",
    "phone": "(415) 555-0123",
    "company": "  Acme   Robotics\tInc. ",
    "website": "https://www.acme-robotics.com/contact",
    "job_title": "VP   Engineering",
    "industry": "Manufacturing",
    "city": "San Francisco",
    "region": "CA",
    "country": "United States",
    "language": "en_US",
    "timezone": "america/los_angeles",
    "company_size": "51-200",
    "budget": "50k-100k",
    "purchase_timeframe": "Q3",
    "product_interest": "Robot arms",
    "annual_revenue": "$12.5M",
    "utm_source": "newsletter",
}


def test_normalize_lead_fields_full_lead() -> None:
    result = normalize_lead_fields(FULL_LEAD, default_region="DE")
    assert isinstance(result, NormalizedLead)
    assert result.errors == {}
    assert result.values == {
        "first_name": "Jean-Luc",
        "last_name": "O'Brien",
        "email": "Jean-Luc.OBrien+demo@acme-robotics.com",
        "email_normalized": "jean-luc.obrien+demo@acme-robotics.com",
        "phone": "(415) 555-0123",
        "phone_e164": "+14155550123",
        "company": "Acme Robotics Inc.",
        "website": "https://www.acme-robotics.com/contact",
        "company_domain": "acme-robotics.com",
        "job_title": "VP Engineering",
        "industry": "Manufacturing",
        "city": "San Francisco",
        "region": "CA",
        "country": "US",
        "language": "en-us",
        "timezone": "America/Los_Angeles",
        "company_size": "51-200",
        "budget": "50k-100k",
        "purchase_timeframe": "Q3",
        "product_interest": "Robot arms",
        "annual_revenue": "12500000",
    }


def test_normalize_lead_fields_absent_and_blank() -> None:
    result = normalize_lead_fields(
        {"first_name": "   ", "last_name": None, "email": "", "company": "\t", "other": "kept by caller"},
        default_region="US",
    )
    assert result == NormalizedLead(values={}, errors={})


def test_normalize_lead_fields_collects_errors() -> None:
    result = normalize_lead_fields(
        {
            "first_name": "Ada",
            "email": "ada@",
            "phone": "12",
            "country": "Narnia",
            "timezone": "Mars/Base",
            "annual_revenue": "a lot",
            "company_domain": "not a domain",
            "website": "n/a",
        },
        default_region="GB",
    )
    assert result.values == {"first_name": "Ada"}
    assert set(result.errors) == {
        "email", "phone", "country", "timezone", "annual_revenue", "company_domain", "website",
    }  # fmt: skip
    assert result.errors["country"] == "Unknown country: 'Narnia'"
    assert result.errors["timezone"] == "Unknown time zone"
    assert result.errors["annual_revenue"] == "Annual revenue must be a number"
    assert result.errors["email"].startswith("The email address is not valid: ")
    assert result.errors["phone"].startswith("The phone number is not valid: ")


def test_normalize_lead_fields_phone_uses_lead_country() -> None:
    result = normalize_lead_fields({"phone": "030 123456", "country": "Germany"}, default_region="US")
    assert result.values["phone_e164"] == "+4930123456"
    result = normalize_lead_fields({"phone": "020 7946 0958", "country": "Narnia"}, default_region="GB")
    assert result.values["phone_e164"] == "+442079460958"
    assert "country" in result.errors


def test_normalize_lead_fields_company_domain_sources() -> None:
    explicit = normalize_lead_fields(
        {"company_domain": "WWW.Explicit.com", "website": "https://other.com", "email": "a@third.com"},
        default_region="US",
    )
    assert explicit.values["company_domain"] == "explicit.com"
    from_website = normalize_lead_fields(
        {"website": "https://www.Bücher.de/path", "email": "a@third.com"}, default_region="DE"
    )
    assert from_website.values["company_domain"] == "xn--bcher-kva.de"
    from_email = normalize_lead_fields({"email": "jörg@Bücher.de"}, default_region="DE")
    assert from_email.values["email"] == "jörg@bücher.de"
    assert from_email.values["company_domain"] == "xn--bcher-kva.de"
    free_mail = normalize_lead_fields({"email": "someone@GMAIL.com"}, default_region="US")
    assert "company_domain" not in free_mail.values


def test_normalize_lead_fields_non_string_values_and_limits() -> None:
    result = normalize_lead_fields(
        {"annual_revenue": 250000, "company_size": 50, "first_name": "A" * 300, "company": "x" * 500},
        default_region="US",
    )
    assert result.values["annual_revenue"] == "250000"
    assert result.values["company_size"] == "50"
    assert len(result.values["first_name"]) == 100
    assert len(result.values["company"]) == 200


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(LEAD_KEYS) | st.text(max_size=10), st.text(max_size=40), max_size=12))
def test_normalize_lead_fields_never_raises(data: dict[str, str]) -> None:
    result = normalize_lead_fields(data, default_region="US")
    assert not set(result.values) & set(result.errors)
    assert all(value and value == value.strip() for value in result.values.values())
    if "phone_e164" in result.values:
        assert E164_RE.match(result.values["phone_e164"])
    if "company_domain" in result.values:
        assert normalize_domain(result.values["company_domain"]) == result.values["company_domain"]
