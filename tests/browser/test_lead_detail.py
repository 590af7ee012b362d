"""The lead detail page in a browser: inline edits and notes over HTMX, and what a reload keeps."""

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from leadflow.access.models import User
from leadflow.leads.models import Lead
from tests.browser.conftest import Org


def test_editing_a_field_inline(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.ann)
    page.goto(f"/leads/{org.ann_lead.pk}/")
    profile = page.get_by_role("region", name="Profile")
    company = profile.locator("#field-company")
    expect(company).to_have_text(re.compile(r"^\s*Acme\s+Edit Company\s*$"))

    profile.get_by_role("link", name="Edit Company", exact=True).click()
    field = company.get_by_role("textbox", name="Company")
    expect(field).to_be_focused()
    field.fill("Something else")
    field.press("Escape")
    expect(profile.get_by_role("link", name="Edit Company", exact=True)).to_be_visible()
    expect(company).to_contain_text("Acme")

    profile.get_by_role("link", name="Edit Company", exact=True).click()
    company.get_by_role("textbox", name="Company").fill("Globex Corporation")
    company.get_by_role("button", name="Save").click()
    expect(company).to_contain_text("Globex Corporation")
    expect(profile.get_by_role("link", name="Edit Company", exact=True)).to_be_focused()
    expect(page.get_by_role("heading", level=1).locator("xpath=..")).to_contain_text("Globex Corporation")

    page.reload()
    expect(page.locator("#field-company")).to_contain_text("Globex Corporation")
    assert Lead.objects.get(pk=org.ann_lead.pk).company == "Globex Corporation"


def test_an_invalid_value_is_refused_where_it_was_typed(
    page: Page, org: Org, sign_in: Callable[[User], None]
) -> None:
    sign_in(org.ann)
    page.goto(f"/leads/{org.ann_lead.pk}/")
    email = page.get_by_role("region", name="Profile").locator("#field-email")
    email.get_by_role("link", name="Edit Email").click()
    field = email.get_by_role("textbox", name="Email")
    field.fill("not an address")
    email.get_by_role("button", name="Save").click()  # the browser itself refuses to send this one
    assert field.evaluate("input => input.validity.valid") is False

    field.fill("ann@example")  # a valid address to the browser, not to leadflow: it has no real domain
    email.get_by_role("button", name="Save").click()
    expect(email.get_by_role("alert")).to_be_visible()
    field = email.get_by_role("textbox", name="Email")
    expect(field).to_have_value("ann@example")
    expect(field).to_have_attribute("aria-describedby", "edit-email-error")
    assert Lead.objects.get(pk=org.ann_lead.pk).email == "annlead@example.com"


def test_adding_a_note(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.ann)
    page.goto(f"/leads/{org.ann_lead.pk}/")
    note_form = page.get_by_role("form", name="Add a note")
    note_form.get_by_label("Note").fill("Asked for a demo next Tuesday.\nBudget approved.")
    note_form.get_by_role("button", name="Add note").click()

    actions = page.get_by_role("region", name="Quick actions")
    expect(actions.get_by_role("status")).to_have_text("Note added.")
    expect(page.get_by_role("form", name="Add a note").get_by_label("Note")).to_have_value("")
    timeline = page.get_by_role("region", name="Timeline")
    newest = timeline.get_by_role("listitem").first
    expect(newest).to_contain_text("Note")
    expect(newest).to_contain_text("Asked for a demo next Tuesday.")
    expect(newest).to_contain_text("Ann")

    page.reload()
    expect(page.get_by_role("region", name="Timeline").get_by_role("listitem").first).to_contain_text(
        "Budget approved."
    )
