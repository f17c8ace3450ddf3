"""The case page in Chromium: intake answers by their labels, system events folded into one line each
run, opened by a click with JavaScript off (``<details>``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.audit.models import AuditEvent
from hotline.cases.actions import do_add_message, do_issue_receipt, do_open_case, do_set_answers, do_set_metadata
from hotline.cases.models import Case, Message
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.keyring import actions as keyring
from tests.browser.conftest import VIEWPORT, WAIT_MS, screenshot
from tests.browser.test_console import sign_in
from tests.conftest import ADMIN_PASSWORD, Org
from tests.console_support import make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "console-case.png"
BOT = Actor.system("telegram")


@pytest.fixture
def page_without_js(browser: Browser) -> Iterator[Page]:
    """The folds must open for an operator whose browser runs no script."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture
def org(transactional_db: None) -> Org:
    result = keyring.do_setup("admin", ADMIN_PASSWORD)
    return Org(
        result.user, ADMIN_PASSWORD, result.recovery_key, keyring.unlock_with_password(result.user, ADMIN_PASSWORD)
    )


def an_application() -> Case:
    """A case as the bot's intake leaves it: answers given step by step (one of them changed back
    and forth), metadata, a receipt, then the applicant's first message."""
    case = do_open_case(BOT, channel=ChannelKind.TELEGRAM, address="700200", language="ru", category=Category.MOBILIZED)
    do_set_answers(BOT, case, {"situation": "front"})
    do_set_metadata(BOT, case, region=Region.RUSSIA)
    for _ in range(6):
        do_set_answers(BOT, case, {"with_others": "no"})
    do_set_answers(BOT, case, {"identity": "Sergei, 1994, unit 41"})
    do_set_answers(BOT, case, {"safe_contact": "Only after 21:00, here"})
    do_set_answers(BOT, case, {"after_surrender": "stay_in_ukraine"})
    do_issue_receipt(BOT, case)
    do_add_message(
        BOT,
        case,
        direction=Direction.INBOUND,
        channel=ChannelKind.TELEGRAM,
        body="We are three in the trench near the river. How do we cross safely?",
    )
    # Twenty minutes ago, as a real case is when an operator opens it: the intake took a few minutes.
    start = timezone.now() - timedelta(minutes=20)
    events = AuditEvent.objects.filter(object_id=str(case.pk)).order_by("seq")
    for seconds, event in enumerate(events):
        AuditEvent.objects.filter(pk=event.pk).update(at=start + timedelta(seconds=20 * seconds))
    Case.objects.filter(pk=case.pk).update(created_at=start)
    Message.objects.filter(case=case).update(created_at=start + timedelta(minutes=6))
    return case


def test_an_operator_reads_the_answers_and_opens_a_folded_line(
    page_without_js: Page, live_server: LiveServer, org: Org
) -> None:
    page = page_without_js
    alice = make_staff(org, "alice", Role.OPERATOR)
    case = an_application()
    sign_in(page, live_server, alice)
    page.goto(f"{live_server.url}/console/case/{case.pk}/")

    answers = page.locator(".entry.answers")
    expect(answers).to_contain_text("Where now")
    expect(answers.locator("dd").first).to_have_text("At the front")
    expect(answers).to_contain_text("Stay in Ukraine")
    expect(answers).not_to_contain_text("stay_in_ukraine")

    folded = page.locator(".entry.fold").first
    expect(folded.locator("summary")).to_contain_text("intake: 6 answers")
    events = folded.locator(".fold-events")
    expect(events).to_be_hidden()
    folded.locator("summary").click()
    expect(events).to_be_visible()
    expect(events).to_contain_text("opened the case")
    expect(events).to_contain_text("changed answers: with_others ×6")
    expect(events).to_contain_text("issued a receipt")
    expect(page.locator(".entry.msg.in")).to_contain_text("How do we cross safely?")
    # Back to the closed line for the picture: what an operator sees on opening the case.
    folded.locator("summary").click()
    expect(events).to_be_hidden()
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot(page, "console-case-folded"), DOCS_SCREENSHOT)
