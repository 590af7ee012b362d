"""Signing in through the real form, signing out, and the page's own assets (styles, htmx)."""

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Org


def sign_in_form(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_password_shows_an_error(page: Page, org: Org) -> None:
    page.goto("/login/")
    sign_in_form(page, "ann", "not-her-password")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_label("Username")).to_have_value("ann")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_sign_in_lands_on_the_inbox_and_sign_out_leaves(page: Page, org: Org) -> None:
    page.goto("/leads/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/leads/$"))
    page.goto("/login/")
    sign_in_form(page, "ann", "correct-horse-battery")
    expect(page).to_have_url(re.compile(r"127\.0\.0\.1:\d+/$"))
    expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Ann")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Inbox")).to_have_attribute("aria-current", "page")
    expect(navigation.get_by_role("link", name="Dashboard")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_pages_load_their_styles_and_htmx(page: Page) -> None:
    page.goto("/login/")
    stylesheet_rules = page.evaluate(
        "() => Array.from(document.styleSheets)"
        ".filter(sheet => (sheet.href || '').includes('leadflow'))"
        ".map(sheet => sheet.cssRules.length)"
    )
    assert stylesheet_rules and stylesheet_rules[0] > 10
    assert page.evaluate("() => typeof window.htmx") == "object"
    # The design system's look is applied, not the browser's default.
    assert page.evaluate("() => getComputedStyle(document.querySelector('.btn')).cursor") == "pointer"
