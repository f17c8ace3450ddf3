"""The console with real channels, in Chromium: a case that came in through the Telegram bot (the
emulator plays Telegram), answered from the console and read on the applicant's simulated phone; and
a phone call taken through the phone-intake form, ending with a receipt read back to the caller."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases import actions
from hotline.cases.models import Case, Message
from hotline.core.lifecycle import Role
from hotline.core.metadata import DeliveryState, Direction
from tests.browser.conftest import screenshot
from tests.browser.test_console import sign_in
from tests.conftest import Org
from tests.console_support import make_staff
from tests.telegram_harness import TelegramRig

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECEIPT = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]")


def test_a_reply_from_the_console_reaches_the_telegram_applicants_phone(
    page: Page, live_server: LiveServer, telegram: TelegramRig, org_tx: Org
) -> None:
    telegram.start(880001, "ru")
    telegram.complete_intake(880001, {"identity": "Сидоров Олег, 1990"})
    case = Case.objects.get(applicant_id=telegram.identity(880001).applicant_id)

    alice = make_staff(org_tx, "alice", Role.OPERATOR)
    sign_in(page, live_server, alice)
    page.goto(f"{live_server.url}/console/case/{case.pk}/")
    expect(page.locator("main")).to_contain_text("Сидоров Олег, 1990")  # decrypted for this session only
    page.get_by_label("Reply to the applicant").fill("Здравствуйте, мы получили вашу заявку.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("main")).to_contain_text("Здравствуйте, мы получили вашу заявку.")
    screenshot(page, "console-case-telegram")

    telegram.drain()
    assert telegram.bot_texts(880001)[-1] == "Здравствуйте, мы получили вашу заявку."
    reply = Message.objects.get(case=case, direction=Direction.OUTBOUND)
    assert reply.delivery_state == DeliveryState.SENT
    page.reload()
    expect(page.locator("main")).to_contain_text("sent")


def test_an_operator_takes_a_call_through_phone_intake(page: Page, live_server: LiveServer, org_tx: Org) -> None:
    alice = make_staff(org_tx, "alice", Role.OPERATOR)
    sign_in(page, live_server, alice)
    page.get_by_role("link", name="Phone call").click()
    page.get_by_label("Caller's language").select_option("en")
    page.get_by_role("button", name="Start the intake").click()
    expect(page.locator("form fieldset")).to_be_visible()
    screenshot(page, "console-phone-intake")
    for _ in range(40):
        if page.locator(".phone-receipt").count():
            break
        form = page.locator("form fieldset")
        buttons = form.locator("button[name=choice]")
        if buttons.count():
            yes = form.locator("button[name=choice][value=yes]")
            (yes if yes.count() else buttons.first).click()
        else:
            field = page.locator("#answer")
            field.fill("3" if field.get_attribute("inputmode") == "numeric" else "Told on the phone: a driver, 1985")
            page.get_by_role("button", name="Next").click()
    receipt = page.locator(".receipt").inner_text().strip()
    assert RECEIPT.fullmatch(receipt), receipt
    screenshot(page, "console-phone-receipt")
    case = actions.find_case_by_receipt(receipt)
    assert case is not None and case.channel == "phone" and case.language == "en"
    # The same caller rings again: the operator logs the call on the application by its receipt.
    page.get_by_role("link", name="Phone call").click()
    page.get_by_label("Receipt or application number").fill(receipt.lower())
    page.get_by_label("Summary of the call").fill("Called back: will be at the meeting point on Friday.")
    page.get_by_role("button", name="Add to the application").click()
    expect(page.locator("main")).to_contain_text("Called back: will be at the meeting point on Friday.")
