"""Data-quality flags: disposable, role and free-mail addresses, phone type and validity, company key."""

from leadflow.hygiene.quality import quality_flags


def test_email_flags() -> None:
    assert quality_flags({"email_normalized": "jo@mailinator.com"}).email_disposable
    role = quality_flags({"email_normalized": "sales@acme.io"})
    assert role.email_role and not role.email_disposable and not role.email_free_mail
    assert quality_flags({"email_normalized": "jo.smith@gmail.com"}).email_free_mail
    person = quality_flags({"email_normalized": "jo.smith@acme.io"})
    assert not (person.email_role or person.email_disposable or person.email_free_mail or person.warnings)
    assert quality_flags({"email_normalized": "test@test.com"}).email_placeholder


def test_phone_type_and_validity() -> None:
    mobile = quality_flags({"phone_e164": "+4915112345678"})
    assert (mobile.phone_valid, mobile.phone_type, mobile.phone_country) == (True, "mobile", "DE")
    assert quality_flags({"phone_e164": "+493012345678"}).phone_type == "landline"
    invalid = quality_flags({"phone_e164": "+11235550123"})
    assert invalid.phone_valid is False and "not a valid number" in invalid.warnings[0]
    assert quality_flags({}).phone_valid is None


def test_company_key_and_placeholder_names() -> None:
    assert quality_flags({"company": "Acme Holdings GmbH"}).company_key == "acme holdings"
    assert quality_flags({"company": "n/a"}).company_key == ""
    assert quality_flags({"first_name": "asdf", "last_name": "asdf"}).name_placeholder
