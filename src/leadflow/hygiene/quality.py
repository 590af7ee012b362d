"""Pure data-quality flags of a lead's contact data: what the lead detail page shows next to the fields.

No Django here. Email flags come from the maintained disposable-email-domains list and normalize's
free-mail list; phone type and validity from phonenumbers; the company key from hygiene.matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import phonenumbers
from disposable_email_domains import blocklist as _DISPOSABLE_DOMAINS

from leadflow.hygiene.matching import company_key, is_placeholder
from leadflow.hygiene.normalize import domain_of_email, is_free_mail

__all__ = ["ROLE_LOCAL_PARTS", "QualityFlags", "quality_flags"]

# Local parts that name a function or a team rather than a person.
ROLE_LOCAL_PARTS = frozenset(
    {
        "admin", "administrator", "billing", "careers", "contact", "enquiries", "feedback", "finance",
        "hello", "help", "hr", "info", "inquiries", "jobs", "marketing", "media", "no-reply", "noreply",
        "office", "orders", "postmaster", "press", "privacy", "purchasing", "sales", "service", "support",
        "team", "webmaster", "accounts", "abuse", "legal", "kontakt", "bureau", "buero", "mail",
    }
)  # fmt: skip

_PHONE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline or mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll-free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium rate",
    phonenumbers.PhoneNumberType.VOIP: "VoIP",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal number",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "company number",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared cost",
}


@dataclass(frozen=True)
class QualityFlags:
    """What is known about the quality of one lead's contact data."""

    email_disposable: bool = False
    email_role: bool = False
    email_free_mail: bool = False
    email_placeholder: bool = False
    email_deliverable: bool | None = None  # None: not checked (LEADFLOW_EMAIL_DNS_CHECK off) or unknown
    email_dns_detail: str = ""
    phone_valid: bool | None = None  # None: no phone
    phone_type: str = ""  # mobile, landline, … or "" when unknown
    phone_country: str = ""
    company_key: str = ""
    name_placeholder: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def warnings(self) -> list[str]:
        """Plain-language problems, for the lead page."""
        found = []
        if self.email_placeholder:
            found.append("The email address looks like a placeholder.")
        if self.email_disposable:
            found.append("The email address is from a disposable-mail provider.")
        if self.email_role:
            found.append("The email address belongs to a role or team, not a person.")
        if self.email_deliverable is False:
            found.append(f"The email address cannot receive mail: {self.email_dns_detail}")
        if self.phone_valid is False:
            found.append("The phone number is not a valid number for its country.")
        if self.name_placeholder:
            found.append("The name looks like a placeholder.")
        return found


def quality_flags(lead: Mapping[str, object]) -> QualityFlags:
    """Flags for a lead given as a mapping of its normalized fields (email_normalized, phone_e164, …),
    with the DNS check of its email domain when there is one (email_deliverable, email_dns_detail)."""
    email = str(lead.get("email_normalized") or "")
    local, _, _ = email.rpartition("@")
    domain = domain_of_email(email) if email else ""
    phone = str(lead.get("phone_e164") or "")
    phone_valid: bool | None = None
    phone_type = phone_country = ""
    if phone:
        try:
            number = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            phone_valid = False
        else:
            phone_valid = phonenumbers.is_valid_number(number)
            phone_type = _PHONE_TYPES.get(phonenumbers.number_type(number), "") if phone_valid else ""
            phone_country = phonenumbers.region_code_for_number(number) or ""
    deliverable = lead.get("email_deliverable")
    names = f"{lead.get('first_name') or ''} {lead.get('last_name') or ''}".strip()
    company = str(lead.get("company") or "")
    return QualityFlags(
        email_disposable=bool(domain) and domain in _DISPOSABLE_DOMAINS,
        email_role=bool(local) and local.split("+")[0] in ROLE_LOCAL_PARTS,
        email_free_mail=bool(domain) and is_free_mail(domain),
        email_placeholder=bool(email) and is_placeholder(email),
        email_deliverable=deliverable if isinstance(deliverable, bool) and email else None,
        email_dns_detail=str(lead.get("email_dns_detail") or "") if email else "",
        phone_valid=phone_valid,
        phone_type=phone_type,
        phone_country=phone_country,
        company_key=company_key(company) if company and not is_placeholder(company) else "",
        name_placeholder=bool(names) and is_placeholder(names),
    )
