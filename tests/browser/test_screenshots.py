"""The documentation's screenshots, taken from the demo data.

Skipped unless LEADFLOW_SCREENSHOTS=1; then it writes docs/screenshots/*.png:

    LEADFLOW_SCREENSHOTS=1 pytest tests/browser/test_screenshots.py -p no:xdist
"""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db.models import Count
from playwright.sync_api import Page, ViewportSize, expect

from leadflow.access.models import User
from leadflow.capture.demo import demo_load
from leadflow.leads.models import Lead
from leadflow.leads.selectors import lead_visible
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.skipif(
    os.environ.get("LEADFLOW_SCREENSHOTS") != "1", reason="writes the screenshots when LEADFLOW_SCREENSHOTS=1"
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def showcase_lead(viewer: User) -> Lead:
    """The lead of `viewer`'s with the richest timeline: a full name, a company, an owner."""
    lead = (
        lead_visible(viewer=viewer)
        .exclude(last_name="")
        .exclude(company="")
        .filter(owner__isnull=False)
        .annotate(entries=Count("activities"))
        .order_by("-entries", "id")
        .first()
    )
    assert lead is not None
    return lead


def shoot(page: Page, path: str, heading: str, name: str, *, viewport: ViewportSize = DESKTOP) -> None:
    page.set_viewport_size(viewport)
    page.goto(path)
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=SCREENSHOTS / name)


def test_screenshots(page: Page, sign_in: Callable[[User], None]) -> None:
    demo_load(leads=300, seed=42)
    page.emulate_media(reduced_motion="reduce")  # charts drawn at once, not mid-animation
    users = {user.username: user for user in User.objects.all()}
    manager, lead = users["manager"], showcase_lead(users["manager"])
    detail = f"/leads/{lead.pk}/"

    sign_in(users["olivia"])
    shoot(page, "/", "Inbox", "inbox.png")
    sign_in(manager)
    shoot(page, "/leads/", "Leads", "lead-list.png")
    shoot(page, detail, lead.display_name, "lead-detail.png")
    shoot(page, "/dashboard/", "Dashboard", "dashboard.png")
    shoot(page, "/leads/", "Leads", "lead-list-phone.png", viewport=PHONE)
    shoot(page, detail, lead.display_name, "lead-detail-phone.png", viewport=PHONE)
    sign_in(users["admin"])
    shoot(page, "/users/", "Users", "users.png")
