"""The phone line in Chromium: an operator goes on duty, a caller (the provider emulator) leaves a
voicemail the operator plays on the case page, and a callback is placed from the case page without
the applicant's number ever reaching the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from hotline.cases.models import Case
from hotline.channels.voice.models import Callback
from hotline.core.lifecycle import Role
from hotline.testing.voice_emulator import Answer, NoAnswer, Speech
from tests.browser.conftest import screenshot
from tests.browser.test_console import sign_in
from tests.conftest import Org
from tests.console_support import make_staff
from tests.voice_support import VoiceRig, voice_rig

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CALLER = "+79161230077"
LINE = "+380501230088"


@pytest.fixture
def phone_line(org_tx: Org, settings: Any) -> Iterator[VoiceRig]:
    yield from voice_rig(org_tx, settings)


def test_an_operator_on_duty_plays_a_voicemail_and_calls_back(
    page: Page, live_server: LiveServer, org_tx: Org, phone_line: VoiceRig
) -> None:
    alice = make_staff(org_tx, "alice", Role.OPERATOR)
    sign_in(page, live_server, alice)
    page.get_by_role("link", name="Phone line").click()
    page.get_by_label("My phone number or SIP address").fill(LINE)
    page.get_by_role("button", name="Save my line").click()
    page.get_by_role("button", name="Go on duty").click()
    expect(page.locator("main")).to_contain_text("on duty")
    expect(page.locator("main")).to_contain_text("…088")

    # A call: English, talk to an operator; Alice's phone rings out; the caller leaves a message.
    phone_line.provider.phones[LINE] = NoAnswer()
    call = phone_line.provider.place_call(CALLER, presses=["3", "3"], speech=Speech(seconds=6, end="#"))
    (recording,) = phone_line.provider.recordings.values()
    wav = recording.audio
    assert [d.addresses for d in call.dials] == [[LINE]]
    phone_line.deliver()
    case = Case.objects.get()

    page.goto(f"{live_server.url}/console/case/{case.pk}/")
    expect(page.locator("main")).to_contain_text("voicemail left (6 s)")
    audio = page.locator("audio")
    expect(audio).to_have_count(1)
    src = audio.get_attribute("src")
    played = page.evaluate(
        "async (src) => { const r = await fetch(src); return [r.status, r.headers.get('content-type'), "
        "r.headers.get('cache-control'), (await r.arrayBuffer()).byteLength]; }",
        src,
    )
    assert played[0] == 200 and played[1] == "audio/wav" and "no-store" in played[2] and played[3] == len(wav)
    screenshot(page, "console-case-voicemail")

    # The caller calls again and asks to be called back; Alice presses "Call back".
    phone_line.provider.place_call(CALLER, presses=["3", "5"])
    page.reload()
    phone_line.provider.phones[LINE] = Answer(talk_seconds=40)
    phone_line.provider.phones[CALLER] = Answer(talk_seconds=35)
    page.get_by_role("button", name="Call back").click()
    expect(page.locator("body")).to_contain_text("Your phone will ring now")
    phone_line.deliver()
    (placed,) = phone_line.provider.run_pending()
    assert placed.dials[0].addresses == [CALLER] and placed.dials[0].caller_id == phone_line.provider.number
    page.reload()
    expect(page.locator("main")).to_contain_text("callback connected")
    assert Callback.objects.get().state == Callback.State.DONE
    screenshot(page, "console-case-callback")
    for spelling in (CALLER, CALLER.lstrip("+"), "1230077"):
        assert spelling not in page.content()

    page.get_by_role("link", name="Phone line").click()
    screenshot(page, "console-phone-line")
