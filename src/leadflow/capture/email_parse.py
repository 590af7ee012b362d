"""Reading an inbound email into lead data (pure: no Django).

`parse_email` never raises: whatever it cannot read becomes empty, and `problems` says what went wrong.
The body is the newest reply only: quoted replies and the signature are split off by mail-parser-reply;
phone and company are then looked for in the signature.
"""

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import phonenumbers
from mailparser_reply import EmailReplyParser

MAX_BODY = 20_000
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv"]
COMPANY_SUFFIX = re.compile(
    r"\b(inc|llc|ltd|limited|gmbh|ag|sa|sas|sarl|bv|nv|oy|ab|as|aps|plc|corp|corporation|co|company|"
    r"srl|spa|s\.?a\.?|pty|kg|ug)\b\.?",
    re.IGNORECASE,
)
TITLE_AT_COMPANY = re.compile(r"^(?P<title>[^,|@]{2,60}?)\s*(?:,|\||\bat\b|@)\s*(?P<company>[^,|]{2,80})$")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
AUTOMATIC_SENDERS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply")


@dataclass
class ParsedEmail:
    message_id: str = ""
    in_reply_to: list[str] = field(default_factory=list)
    sender_name: str = ""
    sender_address: str = ""
    recipients: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    signature: str = ""
    phone: str = ""
    company: str = ""
    job_title: str = ""
    automatic: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def first_name(self) -> str:
        return self.sender_name.rpartition(" ")[0] if " " in self.sender_name else self.sender_name

    @property
    def last_name(self) -> str:
        return self.sender_name.rpartition(" ")[2] if " " in self.sender_name else ""


def _header(message: Message, name: str, parsed: ParsedEmail) -> str:
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception as err:  # a malformed header can fail in many ways under policy.default
        parsed.problems.append(f"Unreadable {name} header ({type(err).__name__}).")
        try:
            raw = message.get_all(name) if isinstance(message, EmailMessage) else None
            return " ".join(str(raw[0]).split()) if raw else ""
        except Exception:
            return ""


def _part_text(part: Message, parsed: ParsedEmail) -> str:
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            if isinstance(content, str):
                return content
    except Exception as err:  # unknown charset, broken transfer encoding …
        parsed.problems.append(f"Body part decoded leniently ({type(err).__name__}).")
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</h[1-6]\s*>", "\n", markup)
    markup = re.sub(r"(?i)<blockquote\b", "\n> <blockquote", markup)
    text = html.unescape(re.sub(r"<[^>]*>", "", markup))
    return "\n".join(line.strip() for line in text.splitlines())


def _body_text(message: Message, parsed: ParsedEmail) -> str:
    plain, rich = "", ""
    try:
        parts = list(message.walk())
    except Exception as err:
        parsed.problems.append(f"Unreadable MIME structure ({type(err).__name__}).")
        parts = [message]
    for part in parts:
        try:
            if part.is_multipart() or part.get_content_disposition() == "attachment":
                continue
            kind = part.get_content_type()
        except Exception:
            continue
        if kind == "text/plain" and not plain:
            plain = _part_text(part, parsed)
        elif kind == "text/html" and not rich:
            rich = _part_text(part, parsed)
    return plain or (html_to_text(rich) if rich else "")


def _newest_reply(text: str) -> tuple[str, str]:
    """(body, signature) of the newest reply; the quoted history is dropped."""
    text = text.replace("\x00", "")[: MAX_BODY * 5]
    try:
        message = EmailReplyParser(languages=REPLY_LANGUAGES).read(text)
        reply = message.replies[0] if message.replies else None
    except Exception:  # the library's regexes on pathological input
        return text.strip()[:MAX_BODY], ""
    if reply is None:
        return "", ""
    body = "\n".join(line for line in reply.body.splitlines() if not line.startswith(">"))
    return body.strip()[:MAX_BODY], (reply.signatures or "")[:2000]


def signature_details(signature: str, region: str) -> tuple[str, str, str]:
    """(phone, company, job title) read from a signature block, where they can be found."""
    phone = ""
    try:
        for match in phonenumbers.PhoneNumberMatcher(signature, region):
            phone = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            break
    except Exception:
        phone = ""
    company, title = "", ""
    for raw_line in signature.splitlines()[1:]:
        line = raw_line.strip(" -–|")
        if not line or "@" in line or any(ch.isdigit() for ch in line[:3]) or ":" in line:
            continue
        if found := TITLE_AT_COMPANY.match(line):
            candidate = found.group("company").strip()
            if COMPANY_SUFFIX.search(candidate) or not company:
                title, company = found.group("title").strip(), candidate
                if COMPANY_SUFFIX.search(candidate):
                    break
        elif COMPANY_SUFFIX.search(line) and len(line) <= 80:
            company = line
            break
    return phone, company[:200], title[:200]


def _message_ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value)[-20:]


def parse_email(raw: bytes, *, default_region: str = "US") -> ParsedEmail:
    parsed = ParsedEmail()
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as err:
        parsed.problems.append(f"Not a readable message ({type(err).__name__}).")
        return parsed
    parsed.message_id = (_message_ids(_header(message, "Message-ID", parsed)) or [""])[0][:500]
    references = _header(message, "References", parsed) + " " + _header(message, "In-Reply-To", parsed)
    parsed.in_reply_to = list(dict.fromkeys(_message_ids(references)))
    sender = _header(message, "Reply-To", parsed) or _header(message, "From", parsed)
    sender = sender or _header(message, "Sender", parsed) or _header(message, "Return-Path", parsed)
    name, address = parseaddr(sender)
    if "@" not in address:
        address = ""
    parsed.sender_name = " ".join(name.replace('"', " ").split())[:200]
    parsed.sender_address = address.strip("<> ")[:254]
    for header in ("To", "Cc", "Delivered-To", "X-Original-To"):
        value = _header(message, header, parsed)
        parsed.recipients += [a.lower() for _, a in getaddresses([value]) if "@" in a]
    parsed.subject = _header(message, "Subject", parsed)[:500]
    auto = _header(message, "Auto-Submitted", parsed)
    if auto and auto.lower() != "no":
        parsed.automatic = f"Auto-Submitted: {auto}"
    if parsed.sender_address.lower().split("@")[0] in AUTOMATIC_SENDERS:
        parsed.automatic = f"Sent by {parsed.sender_address}"
    parsed.body, parsed.signature = _newest_reply(_body_text(message, parsed))
    if parsed.signature:
        parsed.phone, parsed.company, parsed.job_title = signature_details(parsed.signature, default_region)
    return parsed


def sender_display(parsed: ParsedEmail) -> str:
    try:
        return str(Address(display_name=parsed.sender_name, addr_spec=parsed.sender_address))
    except Exception:
        return parsed.sender_address
