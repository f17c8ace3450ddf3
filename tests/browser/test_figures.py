"""The public Figures page in a real browser with JavaScript off: a published release with its
charts and tables, nothing loaded from another host, and the CSV download holding the same numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.core.lifecycle import Role
from hotline.figures import releases
from hotline.portal import limits
from tests.browser.conftest import VIEWPORT, WAIT_MS
from tests.conftest import Org
from tests.console_support import open_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    limits.reset()
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    yield page, requested
    context.close()
    limits.reset()


def test_a_journalist_reads_the_published_figures_and_downloads_the_csv(
    no_js_page: tuple[Page, list[str]], live_server: LiveServer, org_tx: Org
) -> None:
    page, requested = no_js_page
    for n in range(9):
        open_case(str(500 + n))
    from hotline.cases.models import Case

    Case.objects.update(created_at=timezone.now() - timedelta(days=1))
    analyst = User.objects.create_user(username="ana", password="x" * 20, role=Role.ANALYST)
    end = timezone.localdate() - timedelta(days=1)
    wanted = releases.Request(end - timedelta(days=6), end, ("channel", "region"), {"en": "A week of work."})
    release = releases.do_prepare(actor_of(analyst), analyst, wanted)
    releases.do_approve(org_tx.admin_actor, org_tx.admin, release.pk)

    page.goto(f"{live_server.url}/en/")
    page.get_by_role("link", name="Figures").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Figures")
    expect(page.get_by_text("A week of work.")).to_be_visible()
    expect(page.locator("svg[role=img]").first).to_be_visible()
    telegram = release.published["tables"][0]["cells"]["telegram"]
    row = page.get_by_role("row", name="Telegram")
    expect(row.first).to_contain_text(str(telegram))
    assert page.context.cookies() == []

    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").first.click()
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text(encoding="utf-8"))))
    assert {(r["table"], r["cell"]): int(r["count"]) for r in rows}[("channel", "telegram")] == telegram
    assert all(url.startswith(live_server.url) for url in requested), requested
