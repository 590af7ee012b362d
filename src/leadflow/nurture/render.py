"""Message templates: {{ lead.first_name | "there" }} placeholders with fallbacks (pure, no Django).

A placeholder names a lead or owner field, or a link (unsubscribe_url, preferences_url); an optional
quoted fallback is used when the value is empty. Anything else between {{ and }} is an error, found when
the template is saved, never at send time. HTML parts escape the values; links are rewritten for click
tracking by the caller.
"""

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LEAD_PLACEHOLDERS = frozenset(
    {
        "first_name",
        "last_name",
        "full_name",
        "email",
        "phone",
        "company",
        "job_title",
        "website",
        "country",
        "region",
        "city",
        "industry",
        "company_size",
        "product_interest",
        "language",
        "stage",
        "score",
    }
)
OWNER_PLACEHOLDERS = frozenset({"first_name", "last_name", "full_name", "email"})
LINK_PLACEHOLDERS = frozenset({"unsubscribe_url", "preferences_url"})

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_BODY = re.compile(r'^\s*(?:(lead|owner)\.([a-z_]+)|([a-z_]+))\s*(?:\|\s*"([^"{}]*)"\s*)?$')
_HREF = re.compile(r'(<a\b[^>]*?\bhref\s*=\s*")(https?://[^"]+)(")', re.I)


@dataclass(frozen=True)
class Placeholder:
    scope: str  # "lead", "owner" or "link"
    name: str
    fallback: str


def parse_placeholder(body: str) -> Placeholder:
    """One placeholder's inside; ValueError naming it when it is not a known field or link."""
    found = _BODY.match(body)
    if not found:
        raise ValueError(
            f'{{{{{body.strip()}}}}} is not a placeholder; write {{{{ lead.first_name | "there" }}}}'
        )
    scope, name, link, fallback = found.groups()
    if link:
        if link not in LINK_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {link!r}")
        return Placeholder("link", link, "")
    allowed = LEAD_PLACEHOLDERS if scope == "lead" else OWNER_PLACEHOLDERS
    if name not in allowed:
        raise ValueError(f"unknown placeholder {scope}.{name}; use one of {', '.join(sorted(allowed))}")
    return Placeholder(scope, name, fallback or "")


def template_problems(text: str) -> list[str]:
    """Every unknown or malformed placeholder in a template part."""
    problems = []
    for found in _PLACEHOLDER.finditer(text):
        try:
            parse_placeholder(found.group(1))
        except ValueError as err:
            problems.append(str(err))
    if "{{" in _PLACEHOLDER.sub("", text) or "}}" in _PLACEHOLDER.sub("", text):
        problems.append("unbalanced {{ or }}")
    return problems


def render(text: str, context: Mapping[str, Mapping[str, Any]], *, escape: bool = False) -> str:
    """The text with each placeholder replaced by context[scope][name], or its fallback when empty."""

    def value(found: re.Match[str]) -> str:
        placeholder = parse_placeholder(found.group(1))
        raw = context.get(placeholder.scope, {}).get(placeholder.name)
        shown = placeholder.fallback if raw is None or str(raw).strip() == "" else str(raw)
        return html.escape(shown) if escape and placeholder.scope != "link" else shown

    return _PLACEHOLDER.sub(value, text)


def track_links(html_text: str, rewrite: Any) -> str:
    """Every absolute http(s) link in the HTML replaced by rewrite(url) (a click-tracking redirect)."""
    return _HREF.sub(
        lambda m: m.group(1) + html.escape(rewrite(html.unescape(m.group(2)))) + m.group(3), html_text
    )
