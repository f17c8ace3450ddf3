"""The applicant website in a real browser with JavaScript off (as Tor Browser "Safest" runs it):
apply, get a receipt, come back with it, read an operator's reply, write again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases import actions
from hotline.cases.content import do_read_case
from hotline.cases.models import Case
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, DeliveryState, Direction
from hotline.portal import limits
from tests.browser.conftest import VIEWPORT, WAIT_MS, screenshot
from tests.conftest import Org

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "portal-application.png"
REPLY = "Thank you for writing. Stay where you are tonight; we will send the route tomorrow morning."


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    """A tab with JavaScript disabled, recording every URL the browser asks for."""
    limits.reset()
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    yield page, requested
    context.close()
    limits.reset()


def test_olena_applies_comes_back_with_her_receipt_reads_the_reply_and_writes_again(
    no_js_page: tuple[Page, list[str]], live_server: LiveServer, org_tx: Org
) -> None:
    page, requested = no_js_page
    page.goto(f"{live_server.url}/en/")
    expect(page.get_by_role("heading", level=1)).to_have_text("A hotline for those who want to stop fighting")
    assert page.context.cookies() == []

    page.get_by_role("link", name="Apply online").first.click()
    page.get_by_role("button", name="Start the application").click()
    assert page.context.cookies() == []  # the form travels with its pages, never in a cookie

    expect(page.get_by_text("Shall we continue?")).to_be_visible()
    page.get_by_role("button", name="Yes", exact=True).click()
    expect(page.get_by_text("Who are you?")).to_be_visible()
    screenshot(page, "portal-application")
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot(page, "portal-application"), DOCS_SCREENSHOT)
    page.get_by_role("button", name="I was mobilized").click()
    # A look at the Ukrainian version of the question and back: the language buttons keep the answers.
    page.get_by_role("button", name="Українська").click()
    expect(page.get_by_text("Де ви зараз?")).to_be_visible()
    page.get_by_role("button", name="English").click()
    page.get_by_role("button", name="At the front").click()
    # Changed her mind: back, then the other answer.
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_text("Where are you now?")).to_be_visible()
    page.get_by_role("button", name="In training or in the rear").click()
    page.get_by_role("button", name="Russia", exact=True).click()
    page.get_by_role("button", name="Yes", exact=True).click()
    page.get_by_label("Your answer").fill("3")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Your answer").fill("Olena for her husband, unit 40121")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Your answer").fill("Evenings only, after 22:00")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Stay in Ukraine").click()
    page.get_by_role("button", name="Skip this question").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you. Your application has been received.")
    receipt = page.locator("#receipt").inner_text().strip()
    assert len(receipt) == 21
    screenshot(page, "portal-receipt")
    assert page.context.cookies() == []

    case = Case.objects.get(channel=ChannelKind.WEB)
    assert (case.category, case.region, case.group_size) == ("mobilized", "russia", 3)
    answers = do_read_case(Actor.system("test"), case, org_tx.private_key).answers
    assert answers["situation"] == "training_or_rear" and answers["identity"] == "Olena for her husband, unit 40121"

    # An operator answers (the console's reply action, on the web channel).
    reply = actions.do_add_message(
        Actor.system("console"), case, direction=Direction.OUTBOUND, channel=ChannelKind.WEB, body=REPLY
    )
    assert reply.delivery_state == DeliveryState.SENT

    # Later, from the start page, with the receipt typed in small letters.
    page.goto(f"{live_server.url}/en/")
    page.get_by_role("link", name="I have a receipt").first.click()
    page.get_by_label("Your receipt").fill(receipt.lower())
    page.get_by_role("button", name="Open my application").click()
    expect(page.get_by_text(REPLY)).to_be_visible()
    expect(page.get_by_text("An operator has answered: the reply is below.")).to_be_visible()
    expect(page.get_by_text("The hotline has your application; you have written nothing after it.")).to_be_visible()
    screenshot(page, "portal-mailbox")

    page.get_by_label("Write to the operators").fill("Understood. I will wait for the route.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your message has been sent.")).to_be_visible()
    expect(page.get_by_text(REPLY)).to_be_visible()
    page.get_by_label("Update your details").fill("Moved to another district, same region")
    page.get_by_role("button", name="Send the update").click()
    expect(page.get_by_text("Your update has been sent.")).to_be_visible()
    bodies = [m.body for m in do_read_case(Actor.system("test"), case, org_tx.private_key).messages]
    assert bodies == [
        REPLY,
        "Understood. I will wait for the route.",
        "[update] Moved to another district, same region",
    ]

    # A typo in the receipt is caught with a helpful message.
    page.goto(f"{live_server.url}/en/receipt/")
    typo = receipt[:-1] + ("0" if receipt[-1] != "0" else "1")
    page.get_by_label("Your receipt").fill(typo)
    page.get_by_role("button", name="Open my application").click()
    expect(page.get_by_role("alert")).to_contain_text("A character seems mistyped")

    assert page.context.cookies() == []
    # Nothing in the browser's storage either, as the safety page says (read by the test harness:
    # the page itself runs no script).
    state = page.context.storage_state()
    assert state["cookies"] == [] and all(not origin["localStorage"] for origin in state["origins"])
    assert page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]") == ["", 0, 0]
    elsewhere = [url for url in requested if not url.startswith(live_server.url)]
    assert elsewhere == [], f"the browser was sent to other hosts: {elsewhere}"


def test_the_same_form_in_russian_by_default(
    no_js_page: tuple[Page, list[str]], live_server: LiveServer, org_tx: Org
) -> None:
    page, _ = no_js_page
    page.goto(f"{live_server.url}/apply/ru/")
    page.get_by_role("button", name="Начать заявку").click()
    page.get_by_role("button", name="Да", exact=True).click()
    expect(page.get_by_text("Кто вы?")).to_be_visible()
    page.get_by_role("button", name="Связаться с оператором").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Вам ответит оператор")
    receipt = page.locator("#receipt").inner_text().strip()
    page.get_by_label("Написать операторам").fill("Мне нужна помощь, пишу за брата")
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_text("Ваше сообщение отправлено.")).to_be_visible()
    case = Case.objects.get()
    assert case.priority == "urgent" and receipt
