"""Template rendering: placeholders with fallbacks, HTML escaping, unknown placeholders refused."""

from typing import Any

import pytest

from leadflow.nurture.models import Template
from leadflow.nurture.render import render, template_problems, track_links
from leadflow.nurture.services import NurtureError, template_save

CONTEXT = {"lead": {"first_name": "", "company": "A&B <Co>"}, "owner": {"first_name": "Ana"}, "link": {}}


def test_fallback_used_for_an_empty_value() -> None:
    assert (
        render('Hi {{ lead.first_name | "there" }} from {{owner.first_name}}', CONTEXT) == "Hi there from Ana"
    )


def test_html_parts_escape_values() -> None:
    assert render("<b>{{ lead.company }}</b>", CONTEXT, escape=True) == "<b>A&amp;B &lt;Co&gt;</b>"
    assert render("{{ lead.company }}", CONTEXT) == "A&B <Co>"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ lead.shoe_size }}", "unknown placeholder lead.shoe_size"),
        ("{{ owner.phone }}", "unknown placeholder owner.phone"),
        ("{{ coupon }}", "unknown placeholder 'coupon'"),
        ("{{ lead.first_name | there }}", "is not a placeholder"),
        ("Hi {{ lead.first_name", "unbalanced"),
    ],
)
def test_unknown_or_malformed_placeholders_are_reported(text: str, problem: str) -> None:
    assert any(problem in p for p in template_problems(text))


def test_links_are_rewritten_for_click_tracking() -> None:
    html = '<a class="x" href="https://example.com/a?b=1&amp;c=2">A</a> <a href="mailto:x@y">m</a>'
    tracked = track_links(html, lambda url: f"/c?u={url}")
    assert 'href="/c?u=https://example.com/a?b=1&amp;c=2"' in tracked
    assert 'href="mailto:x@y"' in tracked


def test_save_rejects_an_unknown_placeholder(db: None) -> None:
    with pytest.raises(NurtureError) as err:
        template_save(
            values={"name": "T", "channel": "email", "subject": "Hi", "text": "{{ lead.nope }}"}, actor=None
        )
    assert "lead.nope" in err.value.errors["text"]
    assert not Template.objects.exists()


def test_sms_template_needs_no_subject(db: None) -> None:
    values: dict[str, Any] = {"name": "S", "channel": "sms", "text": "Hi {{ lead.first_name }}"}
    assert template_save(values=values, actor=None).channel == "sms"
