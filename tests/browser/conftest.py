"""Browser tests: Debian's Chromium, driven by Playwright, against pytest-django's live server.

Each test gets a fresh browser context (1280×800) and page. The page fails the test at teardown when the
browser logged a console error or an uncaught exception, or asked for anything that is not on the live
server (the UI must not use a CDN). Tests that expect an error say so with `browser_log.allow(...)`.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)
from pytest_django.live_server_helper import LiveServer

from leadflow.access.models import User
from tests.web.conftest import Org, org

__all__ = ["Org", "org"]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make there are
# still synchronous, so Django's async-safety check is switched off for this suite (and only here).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 800}
# How long expect() and actions wait for the page; generous for a loaded CI machine.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(autouse=True)
def _transactional(transactional_db: None) -> None:
    """The live server runs in another thread: data must be committed for it to see."""


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield launched
    launched.close()


@dataclass
class BrowserLog:
    """What went wrong in the browser during a test: console errors, page errors, requests off the server."""

    server_url: str
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        """Errors containing `text` are expected (a 404 page logs its status, for one)."""
        self.allowed.append(text)

    def on_console(self, message: ConsoleMessage) -> None:
        # A page that names no icon makes the browser ask for /favicon.ico, which the app doesn't serve.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    def on_request(self, url: str) -> None:
        if not url.startswith((self.server_url, "data:", "about:")):
            self.foreign_requests.append(url)

    def problems(self) -> list[str]:
        unexpected = [error for error in self.errors if not any(text in error for text in self.allowed)]
        return unexpected + [f"request off the server: {url}" for url in self.foreign_requests]


@pytest.fixture
def browser_log(live_server: LiveServer) -> BrowserLog:
    return BrowserLog(server_url=live_server.url)


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext, browser_log: BrowserLog) -> Iterator[Page]:
    """A page of `context`; the test fails if the browser reported an error or left the server."""
    opened = context.new_page()
    opened.on("console", browser_log.on_console)
    opened.on("pageerror", browser_log.on_page_error)
    opened.on("request", lambda request: browser_log.on_request(request.url))
    yield opened
    problems = browser_log.problems()
    assert not problems, "The browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def sign_in(context: BrowserContext, live_server: LiveServer) -> Callable[[User], None]:
    """Signs `user` in by handing the browser a session cookie (the login form has its own test)."""

    def sign_in_as(user: User) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.clear_cookies()
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    return sign_in_as
