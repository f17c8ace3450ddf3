"""The console in a real browser: sign in with TOTP, work the queue and a case, reply, hand off."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.accounts.staff import do_add_staff
from hotline.cases import triage
from hotline.cases.actions import do_add_message, do_open_case
from hotline.cases.models import Case, Message
from hotline.console.views import queue as queue_views
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.keyring import actions as keyring
from tests.browser.conftest import WAIT_MS, screenshot
from tests.conftest import ADMIN_PASSWORD, Org
from tests.console_support import Staff, code_at_now, make_staff, move

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "console-queue.png"
WEB = Actor.system("web")


@pytest.fixture
def org(transactional_db: None) -> Org:
    result = keyring.do_setup("admin", ADMIN_PASSWORD)
    return Org(
        result.user, ADMIN_PASSWORD, result.recovery_key, keyring.unlock_with_password(result.user, ADMIN_PASSWORD)
    )


def sign_in(page: Page, server: LiveServer, staff: Staff) -> None:
    page.goto(f"{server.url}/console/")
    expect(page).to_have_url(f"{server.url}/accounts/login/?next=%2Fconsole%2F")
    page.get_by_label("Username").fill(staff.user.username)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_label("Code from your authenticator app").fill(staff.code())
    page.get_by_role("button", name="Sign in").click()


def some_cases() -> list[Case]:
    opened: list[Case] = []
    people = [
        (
            "telegram",
            "700100",
            "ru",
            Category.SERVICEMAN,
            Region.RUSSIA,
            "I am in the 3rd battalion, want to surrender",
        ),
        ("web", "portal-1", "uk", Category.RELATIVE, Region.CRIMEA, "My son was mobilized last week"),
        ("telegram", "700101", "ru", Category.MOBILIZED, Region.OCCUPIED_OTHER, "How do I make contact safely?"),
        ("web", "portal-2", "ru", Category.AWAITING_MOBILIZATION, Region.RUSSIA, "I got a summons for Monday"),
    ]
    for channel, address, language, category, region, text in people:
        case = do_open_case(
            Actor.system(channel),
            channel=ChannelKind(channel),
            address=address,
            language=language,
            category=category,
            region=region,
            answers={"situation": text},
        )
        do_add_message(
            Actor.system(channel), case, direction=Direction.INBOUND, channel=ChannelKind(channel), body=text
        )
        opened.append(case)
    # Spread them over the last hours, as a real queue is.
    now = timezone.now()
    for minutes, case in zip((312, 145, 47, 9), opened, strict=True):
        Case.objects.filter(pk=case.pk).update(created_at=now - timedelta(minutes=minutes))
        Message.objects.filter(case=case).update(created_at=now - timedelta(minutes=minutes - 2))
    return opened


def test_an_operator_signs_in_opens_a_case_and_replies(page: Page, live_server: LiveServer, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    cases = some_cases()
    triage.do_save_canned_reply(
        org.admin_actor, title="Safety first", language="uk", body="Please delete this chat after reading."
    )
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    sign_in(page, live_server, alice)
    expect(page.locator("table.queue tbody tr")).to_have_count(4)
    screenshot(page, "console-queue")
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot(page, "console-queue"), DOCS_SCREENSHOT)

    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Application #")
    page.keyboard.press("a")
    expect(page.locator(".timeline")).to_contain_text("assigned the case to alice")

    page.keyboard.press("r")
    expect(page.locator("#reply-body")).to_be_focused()
    page.keyboard.type("We received your message. Stay where you are; an operator will write again today.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".flash")).to_be_visible()
    reply = page.locator(".entry.msg.out").last
    expect(reply).to_contain_text("Stay where you are")
    expect(reply.locator(".delivery")).to_have_text(
        Message.objects.filter(direction=Direction.OUTBOUND).get().get_delivery_state_display()
    )
    screenshot(page, "console-case")
    assert [p for p in problems if "Content Security Policy" in p] == []
    assert cases


def test_the_queue_refreshes_itself(
    page: Page, live_server: LiveServer, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_views, "POLL_SECONDS", 1)
    alice = make_staff(org, "alice", Role.OPERATOR)
    sign_in(page, live_server, alice)
    expect(page.locator(".empty")).to_contain_text("Nothing waiting here")
    case = do_open_case(WEB, channel=ChannelKind.WEB, address="portal-9", language="uk")
    expect(page.locator("table.queue")).to_contain_text(f"#{case.number.id}", timeout=WAIT_MS)


def test_a_coordinator_hands_a_case_off(page: Page, live_server: LiveServer, org: Org) -> None:
    sam = make_staff(org, "sam", Role.SUPERVISOR)
    carol = make_staff(org, "carol", Role.COORDINATOR)
    case = do_open_case(
        WEB,
        channel=ChannelKind.WEB,
        address="portal-3",
        language="ru",
        answers={"identity": "Ivan Petrov, 3rd company"},
    )
    move(case, Status.TRIAGE, Status.READY, by=sam)
    sign_in(page, live_server, carol)
    expect(page).to_have_url(f"{live_server.url}/console/handoff/")
    page.get_by_role("link", name=f"#{case.number.id}").click()
    expect(page.locator(".answers")).to_contain_text("Ivan Petrov")
    expect(page.locator(".answers dt")).to_have_text(["About themselves"])  # the question, not its code
    expect(page.locator("main")).not_to_contain_text("website")
    screenshot(page, "console-handoff")
    page.get_by_role("button", name="accepted: handing off now").click()
    page.get_by_role("button", name="completed: the person is safe").click()
    expect(page.locator(".flash")).to_contain_text("Outcome recorded")
    case.refresh_from_db()
    assert case.status == Status.COMPLETED


def test_a_new_staff_member_enrols_with_the_qr_page(page: Page, live_server: LiveServer, org: Org) -> None:
    user, one_time = do_add_staff(org.admin_actor, org.private_key, "dora", "operator")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill(one_time)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("svg.qr")).to_be_visible()
    screenshot(page, "console-enrol")
    secret = page.locator(".secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(code_at_now(secret))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/password/")
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password", exact=True).fill("dora chooses a long password")
    page.get_by_label("New password again").fill("dora chooses a long password")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(f"{live_server.url}/console/queue/")
    assert keyring.unlock_with_password(user, "dora chooses a long password") == org.private_key
