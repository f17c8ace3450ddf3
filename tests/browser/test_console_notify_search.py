"""Notifications and search in Chromium: a notification appears when a case arrives (counts only),
and search works from the navigation with JavaScript off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases.models import Case
from hotline.core.lifecycle import Role
from hotline.notify.signals import encode_cursor
from tests.browser.conftest import VIEWPORT, WAIT_MS, screenshot
from tests.browser.test_console import sign_in
from tests.conftest import Org
from tests.console_support import make_staff, open_case

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLANTED = "Planted words that must never reach a notification"

# Chromium's own notifications cannot be read back from a page, so the page's Notification is
# replaced before any script runs by one that records what it was asked to show.
RECORD_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = function (title, options) {
  window.__notifications.push({ title: title, body: (options && options.body) || "" });
};
window.Notification.permission = "granted";
window.Notification.requestPermission = function () { return Promise.resolve("granted"); };
"""


@pytest.fixture
def notifying_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", permissions=["notifications"])
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture
def no_script_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def test_a_notification_appears_when_a_case_arrives(notifying_page: Page, live_server: LiveServer, org_tx: Org) -> None:
    page = notifying_page
    alice = make_staff(org_tx, "alice", Role.OPERATOR)
    # A case that arrived two minutes ago; the tab's cursor says the console last asked ten minutes
    # ago (as if it had been open all along), so the first poll finds the case at once.
    case = open_case("880011", identity_details=PLANTED)
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    asked_last = encode_cursor(timezone.now() - timedelta(minutes=10))
    page.add_init_script(f'window.sessionStorage.setItem("hotline-notify-cursor", "{asked_last}");')
    sign_in(page, live_server, alice)
    page.get_by_role("link", name="Phone line").click()
    page.get_by_label("In this console: a browser notification and a short sound while the console is open").check()
    page.get_by_role("button", name="Save notification settings").click()
    expect(page.locator(".flash")).to_contain_text("Your notification settings are saved.")
    page.get_by_role("button", name="Allow browser notifications").click()

    page.wait_for_function("window.__notifications.length > 0")
    shown = page.evaluate("window.__notifications")
    assert shown[0] == {"title": "Hotline", "body": "New cases: 1"}
    text = str(shown)
    for secret in (PLANTED, case.applicant.pseudonym, f"#{case.number.id}"):
        assert secret not in text
    screenshot(page, "console-notifications")


def test_linking_telegram_shows_a_link_and_a_qr_code_that_open_the_bot(
    notifying_page: Page, live_server: LiveServer, org_tx: Org, settings: Any
) -> None:
    page = notifying_page
    settings.TELEGRAM_BOT_USERNAME = "hotline_test_bot"
    problems: list[str] = []
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, live_server, make_staff(org_tx, "alice", Role.OPERATOR))
    page.get_by_role("link", name="Phone line").click()
    page.get_by_role("button", name="Link my Telegram account").click()
    code = page.locator("#link-code").inner_text().removeprefix("/start ")
    link = page.get_by_role("link", name="@hotline_test_bot")
    expect(link).to_have_attribute("href", f"https://t.me/hotline_test_bot?start={code}")
    expect(link).to_have_attribute("rel", "noreferrer noopener")
    qr = page.get_by_role("img", name="QR code that opens the bot with your link code")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150, "big enough for a phone's camera"
    assert problems == []
    qr.scroll_into_view_if_needed()
    screenshot(page, "console-telegram-link")


def test_search_from_the_navigation_without_javascript(
    no_script_page: Page, live_server: LiveServer, org_tx: Org
) -> None:
    page = no_script_page
    sam = make_staff(org_tx, "sam", Role.SUPERVISOR)
    wanted = open_case("880021")
    sign_in(page, live_server, sam)
    page.get_by_role("link", name="Search").click()
    expect(page.locator("main")).to_contain_text("cannot be searched")
    page.get_by_label("Application no.").fill(str(wanted.number.id))
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.search-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"#{wanted.number.id}")
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot(page, "console-search"), DOCS_SCREENSHOTS / "console-search.png")
    # The date fields are the browser's date pickers; a number field takes any text.
    page.get_by_label("Application no.").fill("12ab")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("main [role=alert]")).to_contain_text("An application number is a whole number")
    screenshot(page, "console-search-refused")
