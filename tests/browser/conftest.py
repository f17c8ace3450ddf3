"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Never ``playwright install``: the browser is the system's /usr/bin/chromium (``make browser``).
Screenshots go to test-artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWPORT = {"width": 1366, "height": 768}
# Playwright waits for what it is told to (an element, a load) and goes on as soon as it happens;
# its bound only ends a hung run, so it is far above what a step takes on a loaded machine.
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def browser(django_db_setup: None) -> Iterator[Browser]:
    """One Chromium per module. Playwright's sync API keeps an event loop on this thread while it
    runs; the tests' own ORM calls are still plain synchronous code, so Django's async-safety guard
    is lifted for exactly that time (the test database is created before, and the loop ends after)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make browser)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def screenshot(page: Page, name: str, attempts: int = 4) -> Path:
    """Save a screenshot of the settled page. Headless Chromium on a loaded machine now and then
    answers Page.captureScreenshot with "Unable to capture screenshot" while a frame is still being
    composited; that says nothing about the page, so the capture is retried after the next frame."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_load_state("load")
    for attempt in range(attempts):
        try:
            page.screenshot(path=str(path), full_page=False)
            return path
        except PlaywrightError as error:
            if "Unable to capture screenshot" not in str(error) or attempt == attempts - 1:
                raise
            page.wait_for_timeout(250 * (attempt + 1))
    raise AssertionError("unreachable")
