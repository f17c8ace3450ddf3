"""The demo's phone line: the simulated phone page's keypad places a call through ``POST /phone/call`` on
the Telegram emulator, which runs it in the voice provider emulator against a live server, as
``hotline serve --demo`` wires them (hotline/testing/voice_demo.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from hotline.cases.models import Attachment, Case, Message
from hotline.channels.voice import calls
from hotline.channels.voice.adapter import VoiceAdapter
from hotline.channels.voice.models import Call
from hotline.core.lifecycle import Role
from hotline.testing.telegram_emulator import TelegramEmulator
from hotline.testing.voice_demo import CALLER_NUMBER, HOTLINE_NUMBER
from hotline.worker.loop import Worker
from tests.conftest import Org, make_staff
from tests.voice_support import DEMO_TOKEN, Demo


def _texts(result: dict[str, Any], kind: str | None = None) -> list[str]:
    return [line["text"] for line in result["lines"] if kind is None or line["kind"] == kind]


def _deliver(worker: Worker) -> None:
    for _ in range(20):
        if worker.deliverer.deliver_some() == 0:
            return
    raise AssertionError("the worker kept finding work")


def test_the_keypad_hears_the_language_menu_then_the_chosen_menu(voice_demo: Demo) -> None:
    status, info = voice_demo.request()
    assert status == 200 and info["result"]["number"] == HOTLINE_NUMBER
    assert info["result"]["caller"] == CALLER_NUMBER

    result = voice_demo.call("3")
    lines = result["lines"]
    heard = [line for line in lines if line["kind"] == "heard"]
    # The language menu, each language in its own voice; then the English menu.
    assert [(h["language"], h["text"]) for h in heard[:3]] == [
        ("ru-RU", "Горячая линия. Для русского языка нажмите 1."),
        ("uk-UA", "Українською мовою — натисніть 2."),
        ("en-US", "For English, press 3."),
    ]
    pressed = lines.index({"kind": "pressed", "text": "You pressed 3."})
    after = [line["text"] for line in lines[pressed:] if line["kind"] == "heard"]
    assert after[0] == "You have reached the hotline. This call is confidential."
    assert "To leave a voice message, press 4." in after
    assert not _texts(result, "error")
    assert lines[0]["text"] == f"You call the hotline at {HOTLINE_NUMBER} from {CALLER_NUMBER}."
    assert lines[-1]["kind"] == "end" and result["status"] == "completed"
    assert Call.objects.get().outcome == Call.Outcome.INFORMED


def test_a_voice_message_left_from_the_keypad_reaches_a_case(voice_demo: Demo) -> None:
    result = voice_demo.call("34", message=True)  # English, then a voice message
    texts = _texts(result)
    assert "Voice message recorded (5 s)." in texts
    assert "Thank you. Your message was received; an operator will listen to it." in texts
    assert not _texts(result, "error")

    row = Call.objects.get()
    assert row.outcome == Call.Outcome.VOICEMAIL and row.case is not None
    case = Case.objects.get()
    assert row.case == case and case.language == "en" and case.channel == "phone"
    assert row.voicemail == Message.objects.get(case=case)

    # The worker the demo runs fetches the recording, seals it to the case and deletes it at the provider.
    worker = Worker(adapters={"phone": VoiceAdapter()}, polling=False)
    try:
        _deliver(worker)
    finally:
        worker.close()
    assert Attachment.objects.get().kind == "voicemail"
    (recording,) = voice_demo.voice.provider.recordings.values()
    assert recording.deleted
    row.refresh_from_db()
    assert row.recording == "deleted"


def test_a_demo_operator_line_answers_from_the_keypad(voice_demo: Demo, org_tx: Org) -> None:
    alice = make_staff("alice", Role.OPERATOR)
    calls.do_set_line(alice, "+15550103")  # nobody answers there: rung in turn, then the next
    calls.do_set_duty(alice, True)
    result = voice_demo.call("13")  # Russian, then an operator
    texts = _texts(result)
    assert "Соединяем с оператором. Пожалуйста, оставайтесь на линии." in texts
    assert any(t.startswith("The hotline rang operator line(s) +15550103: nobody took the call") for t in texts)
    assert "Оператор не смог ответить." in texts

    calls.do_set_line(alice, "+15550101")
    result = voice_demo.call("13")
    lines = result["lines"]
    rang = next(i for i, line in enumerate(lines) if line["text"].startswith("The hotline rang"))
    assert lines[rang]["text"].startswith("The hotline rang operator line(s) +15550101: answered by +15550101")
    whisper = lines[rang + 1]
    assert whisper["kind"] == "heard" and whisper["leg"] == "operator"
    assert whisper["text"] == "Звонок на горячую линию. Нажмите 1, чтобы ответить."
    assert lines[rang + 2]["text"] == "The operator pressed 1 to take the call."
    answered = Call.objects.filter(outcome=Call.Outcome.ANSWERED).get()
    assert answered.answered_by == alice


@pytest.mark.parametrize(
    "body",
    [{"keys": "12a"}, {"keys": 12}, {"keys": "1" * 41}, {"keys": "1", "message": "yes"}, [1, 2]],
)
def test_bad_requests_get_a_400_with_a_reason(voice_demo: Demo, body: Any) -> None:
    status, answer = voice_demo.request(body)
    assert status == 400 and not answer["ok"] and answer["description"]
    assert Call.objects.count() == 0


def test_no_phone_line_without_the_demo() -> None:
    with TelegramEmulator(DEMO_TOKEN) as emulator:
        status, answer = Demo(emulator, None).request({"keys": "3"})  # type: ignore[arg-type]
    assert status == 404 and "hotline serve --demo" in answer["description"]


@pytest.mark.django_db
def test_serve_demo_gives_its_children_the_phone_line() -> None:
    from hotline.worker.management.commands.serve import Command

    command = Command(stdout=io.StringIO(), stderr=io.StringIO())
    emulator, voice, env = command._start_demo(0, "0.0.0.0", 8123)  # noqa: S104
    try:
        assert emulator.phone_line is voice
        assert env["VOICE_PUBLIC_URL"] == "http://127.0.0.1:8123"
        assert env["VOICE_API_BASE"] == voice.provider.api_base and env["VOICE_API_BASE"].startswith("http://127.")
        assert env["VOICE_NUMBER"] == HOTLINE_NUMBER
        assert env["VOICE_ACCOUNT_SID"].startswith("AC") and len(env["VOICE_ACCOUNT_SID"]) == 34
        assert len(env["VOICE_AUTH_TOKEN"]) >= 24
        assert voice.provider.incoming_url == "http://127.0.0.1:8123/voice/incoming"
        assert "+15550101" in command.stdout.getvalue()  # type: ignore[attr-defined]
        # Posts published from the console go to the demo's channel.
        assert env["TELEGRAM_CHANNELS"] == "*=@hotline_demo"
        assert emulator.channel("@hotline_demo").bot_is_admin
    finally:
        emulator.stop()
        voice.stop()
