"""The lead list in a browser: filters over HTMX, opening a lead, bulk assignment, who sees what."""

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from leadflow.access.models import User
from leadflow.leads.models import Lead, Stage
from leadflow.leads.services import lead_stage_change
from tests.browser.conftest import BrowserLog, Org


def lead_links(page: Page) -> Locator:
    """The name link of every lead row in the results table."""
    return page.get_by_role("table").locator("tbody").get_by_role("link")


def lead_row(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def column_index(page: Page, label: str) -> int:
    headers = page.get_by_role("columnheader").all_text_contents()
    return next(i for i, text in enumerate(headers) if text.strip().startswith(label))


def test_filters_update_the_table_in_place_and_stay_in_the_url(
    page: Page, org: Org, sign_in: Callable[[User], None]
) -> None:
    lead_stage_change(lead=org.bob_lead, stage=Stage.MQL, actor=None)
    sign_in(org.manager)
    page.goto("/leads/")
    expect(lead_links(page)).to_have_count(3)
    page.evaluate("() => { window.notReloaded = true; }")
    filters = page.get_by_role("search", name="Filter leads")

    filters.get_by_label("Stage").select_option(label="MQL")
    expect(lead_links(page)).to_have_text(["Boblead"])
    expect(page).to_have_url(re.compile(r"/leads/\?.*\bstage=mql\b"))

    filters.get_by_label("Stage").select_option(label="Any stage")
    filters.get_by_label("Search").fill("eastpool")
    filters.get_by_label("Search").press("Enter")
    expect(lead_links(page)).to_have_text(["Eastpool"])
    expect(page).to_have_url(re.compile(r"/leads/\?.*\bq=eastpool\b"))
    assert page.evaluate("() => window.notReloaded") is True, "the filters reloaded the whole page"

    filters.get_by_label("Search").fill("no such lead")
    filters.get_by_label("Search").press("Enter")
    expect(page.get_by_text("No leads match")).to_be_visible()
    expect(lead_links(page)).to_have_count(0)

    searches: list[str] = []
    page.on("request", lambda request: searches.append(request.url) if "q=eastpool" in request.url else None)
    filters.get_by_label("Search").fill("eastpool")
    filters.get_by_label("Search").press("Enter")
    expect(lead_links(page)).to_have_text(["Eastpool"])
    assert len(searches) == 1, f"one search, one request: {searches}"
    page.go_back()  # Back shows the previous filters and their results together
    expect(filters.get_by_label("Search")).to_have_value("no such lead")
    expect(page.get_by_text("No leads match")).to_be_visible()
    page.go_forward()
    expect(filters.get_by_label("Search")).to_have_value("eastpool")
    expect(lead_links(page)).to_have_text(["Eastpool"])
    page.reload()
    expect(filters.get_by_label("Search")).to_have_value("eastpool")
    expect(lead_links(page)).to_have_text(["Eastpool"])


def test_a_lead_opens_from_the_list(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.ann)
    page.goto("/leads/")
    page.get_by_role("link", name="Annlead", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/leads/{org.ann_lead.pk}/$"))
    expect(page.get_by_role("heading", name="Annlead", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Status and ownership")).to_contain_text("Ann")


def test_bulk_assignment_changes_the_owners(page: Page, org: Org, sign_in: Callable[[User], None]) -> None:
    sign_in(org.manager)
    page.goto("/leads/?sort=name")
    expect(lead_links(page)).to_have_text(["Annlead", "Boblead", "Eastpool"])
    owner = column_index(page, "Owner")
    expect(lead_row(page, "Eastpool").get_by_role("cell").nth(owner)).to_have_text("Unassigned")

    page.get_by_label("Select Annlead").check()
    page.get_by_label("Select Eastpool").check()
    expect(page.get_by_text("(2 selected)")).to_be_visible()
    bulk = page.get_by_role("form").filter(has=page.get_by_role("button", name="Assign", exact=True))
    bulk.get_by_label("Assign to").select_option(label="Bob")
    bulk.get_by_role("button", name="Assign", exact=True).click()

    expect(page.get_by_role("status").filter(has_text="Assigned")).to_have_text("Assigned 2 leads to Bob.")
    expect(page).to_have_url(re.compile(r"/leads/\?sort=name$"))
    for name in ("Annlead", "Boblead", "Eastpool"):
        expect(lead_row(page, name).get_by_role("cell").nth(owner)).to_have_text("Bob")
    assert set(Lead.objects.filter(owner=org.bob).values_list("pk", flat=True)) == {
        org.ann_lead.pk,
        org.bob_lead.pk,
        org.east_pool.pk,
    }


def test_a_rep_sees_own_and_pool_leads_a_manager_the_team_s(
    page: Page, org: Org, sign_in: Callable[[User], None], browser_log: BrowserLog
) -> None:
    browser_log.allow("status of 404")  # what the browser logs for the "Not found" pages
    sign_in(org.ann)
    page.goto("/leads/?sort=name")
    expect(lead_links(page)).to_have_text(["Annlead", "Eastpool"])
    response = page.goto(f"/leads/{org.bob_lead.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Boblead")).to_have_count(0)

    sign_in(org.manager)
    page.goto("/leads/?sort=name")
    expect(lead_links(page)).to_have_text(["Annlead", "Boblead", "Eastpool"])
    response = page.goto(f"/leads/{org.cal_lead.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
