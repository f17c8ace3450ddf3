"""In a real browser: an operator raises a case's priority with a reason and the queue puts it first."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases.actions import do_open_case
from hotline.cases.models import Case
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.core.metadata import ChannelKind
from tests.browser.conftest import screenshot
from tests.browser.test_console import org, sign_in
from tests.conftest import Org
from tests.console_support import make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TELEGRAM = Actor.system("telegram")
__all__ = ["org"]  # the fixture, shared with the other console browser tests


def test_an_operator_raises_a_case_and_the_queue_reorders(page: Page, live_server: LiveServer, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    older = do_open_case(TELEGRAM, channel=ChannelKind.TELEGRAM, address="700200", language="ru")
    newer = do_open_case(TELEGRAM, channel=ChannelKind.TELEGRAM, address="700201", language="ru")
    now = timezone.now()
    Case.objects.filter(pk=older.pk).update(created_at=now - timedelta(hours=3))
    Case.objects.filter(pk=newer.pk).update(created_at=now - timedelta(minutes=10))
    rows = page.locator("table.queue tbody tr .row-link")

    sign_in(page, live_server, alice)
    expect(rows).to_have_text([f"#{older.number.id}", f"#{newer.number.id}"])
    expect(page.locator("table.queue tbody tr").first).to_contain_text(re.compile(r"waiting 3 h \d+ min"))

    page.get_by_role("link", name=f"#{newer.number.id}").click()
    block = page.locator("#priority")
    block.locator("select[name=priority]").select_option("urgent")
    block.locator("select[name=reason]").select_option(label="wounded or ill")
    block.get_by_role("button", name="Change priority").click()
    expect(page.locator(".flash")).to_contain_text("Priority changed.")
    expect(page.locator(".timeline")).to_contain_text("priority: normal → urgent (wounded or ill)")
    screenshot(page, "console-priority")

    page.goto(f"{live_server.url}/console/queue/")
    expect(rows).to_have_text([f"#{newer.number.id}", f"#{older.number.id}"])
    expect(page.locator("table.queue tbody tr").first.locator(".badge.prio")).to_have_text("urgent")
