"""Every page of the navigation loads cleanly, and the rep's pages fit a phone's width."""

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from leadflow.access.models import User
from tests.browser.conftest import PHONE, Org


def page_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when nothing needs sideways scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def test_every_page_of_the_navigation_loads(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.admin)  # who sees every page
    page.goto("/")
    navigation = page.get_by_role("navigation", name="Main")
    labels = navigation.get_by_role("link").all_text_contents()
    assert {"Inbox", "Leads", "Dashboard", "Users", "Settings"} <= set(labels)
    for label in labels:
        navigation.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        if "/admin/" in page.url:  # Settings is Django's admin, with a navigation of its own
            page.go_back()
            continue
        current = navigation.get_by_role("link", name=label, exact=True)
        expect(current).to_have_attribute("aria-current", "page")


def test_a_rep_s_pages_fit_a_phone(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.ann)
    page.set_viewport_size(PHONE)
    for path, heading in [("/", "Inbox"), ("/leads/", "Leads"), (f"/leads/{org.ann_lead.pk}/", "Annlead")]:
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert page_overflow(page) <= 0, f"{path} is wider than a phone"


def test_the_dashboard_leads_to_the_unassigned_leads(
    page: Page, org: Org, sign_in: Callable[[User], None]
) -> None:
    sign_in(org.manager)
    page.goto("/dashboard/")
    unassigned = page.get_by_role("region", name="Unassigned leads")
    expect(unassigned).to_contain_text("1")
    stage_chart = page.get_by_role("img", name=re.compile("^Bar chart of the leads .* by current stage"))
    expect(stage_chart).to_be_visible()
    unassigned.get_by_role("link", name="Show unassigned leads").click()
    expect(page.get_by_role("heading", name="Leads", level=1)).to_be_visible()
    expect(page.get_by_role("table").locator("tbody").get_by_role("link")).to_have_text(["Eastpool"])
