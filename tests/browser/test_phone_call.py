"""The simulated phone's Call view, in Chromium: the keypad's presses go to ``POST /phone/call`` on the
Telegram emulator, the voice provider emulator runs the call against the live server, and the page
shows what the caller heard (as ``hotline serve --demo`` wires them: tests/voice_support.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from hotline.channels.voice.models import Call
from tests.browser.conftest import screenshot
from tests.voice_support import Demo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_keypad_calls_the_hotline_and_leaves_a_voice_message(page: Page, voice_demo: Demo) -> None:
    page.goto(f"{voice_demo.emulator.base_url}/phone")
    page.get_by_role("tab", name="Call").click()
    expect(page.get_by_role("tab", name="Call")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#call-info")).to_contain_text("+15550100")  # the page asked the phone line

    keypad = page.get_by_role("group", name="Keypad")
    keypad.get_by_role("button", name="3", exact=True).click()
    keypad.get_by_role("button", name="4", exact=True).click()
    expect(page.get_by_label("Keys to press, in order")).to_have_value("34")
    page.get_by_label("Leave a 5-second message").check()
    page.get_by_role("button", name="Call the hotline").click()

    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("For English, press 3.")
    expect(transcript).to_contain_text("You pressed 3.")
    expect(transcript).to_contain_text("Voice message recorded (5 s).")
    expect(transcript).to_contain_text("Thank you. Your message was received")
    expect(page.locator("#call-status")).to_contain_text("Call over (completed")
    assert transcript.get_attribute("aria-live") == "polite"
    screenshot(page, "phone-call-transcript")
    assert Call.objects.get().outcome == Call.Outcome.VOICEMAIL

    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#call-view")).to_be_hidden()
