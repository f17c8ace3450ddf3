"""The phone line, driven through whole calls: the provider emulator places a call by POSTing signed
webhooks and follows the TwiML the hotline answers with (hotline/testing/voice_emulator.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from hotline.accounts.models import User
from hotline.audit.models import AuditEvent
from hotline.cases.models import Attachment, Case, Message
from hotline.channels.voice import calls
from hotline.channels.voice.models import Call, Callback
from hotline.core.lifecycle import Role
from hotline.core.metadata import Priority
from hotline.outbox.models import OutboxMessage
from hotline.testing.voice_emulator import Answer, NoAnswer, Speech
from tests.conftest import Org
from tests.console_support import make_staff, signed_in_client
from tests.voice_support import BASE, HOTLINE_NUMBER, TOKEN, VoiceRig

CALLER = "+79161234567"
OPERATOR_PHONE = "+380501112233"
LANG_KEYS = {"ru": "1", "uk": "2", "en": "3"}
SAY = {"ru": "ru-RU", "uk": "uk-UA", "en": "en-US"}


def _on_duty(user: User, address: str) -> None:
    calls.do_set_line(user, address)
    calls.do_set_duty(user, True)


def _events(case: Case) -> list[str]:
    return [
        e.details["event"]
        for e in AuditEvent.objects.filter(action="case.call", object_id=str(case.pk)).order_by("seq")
    ]


def _said(call: Any, leg: str = "caller") -> str:
    return " ".join(h.text for h in call.heard if h.leg == leg)


# --- the menu, in every language ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "uk", "en"])
def test_each_menu_branch_speaks_the_chosen_language(voice: VoiceRig, lang: str) -> None:
    from hotline.channels.voice.menu import load, page_speech

    menu = load()
    # How it works, what is guaranteed, the contacts, the menu again; then the caller hangs up.
    call = voice.provider.place_call(CALLER, presses=[LANG_KEYS[lang], "1", "2", "6", "0"])
    heard = call.heard
    assert [h.language for h in heard[:3]] == ["ru-RU", "uk-UA", "en-US"]  # the language choice
    after_choice = [h for h in heard[3:] if h.leg == "caller"]
    assert after_choice and all(h.language == SAY[lang] for h in after_choice)
    text = _said(call)
    assert menu.prompt("welcome", lang) in text
    for key in ("1", "2", "3", "4", "5", "6"):
        item = menu.item(key)
        assert item is not None
        assert menu.prompt("press", lang, label=item.label[lang], key=key) in text
    for slug in ("how-to-apply", "guarantees", "contacts"):
        spoken = page_speech(lang, slug)
        assert spoken and spoken in text
    assert call.errors == []
    # Listening to the menu opens no case; the call is counted as "informed".
    row = Call.objects.get()
    assert row.language == lang and row.outcome == Call.Outcome.INFORMED and row.case_id is None
    assert Case.objects.count() == 0


def test_no_choice_falls_back_and_an_unknown_key_is_explained(voice: VoiceRig) -> None:
    call = voice.provider.place_call(CALLER, presses=["9", None, None, None, "7"])
    text = _said(call)
    assert "We did not understand that choice." in text  # the unknown language key, said in every language
    # Three silences at the language choice: the first language's menu.
    assert "Вы позвонили на горячую линию" in text
    assert "Мы не поняли ваш выбор." in text  # key 7 is not in the menu
    assert call.errors == []


def test_a_page_text_edited_in_the_console_is_what_the_caller_hears(voice: VoiceRig, org: Org) -> None:
    from hotline.pagetexts.actions import do_save_page

    do_save_page(org.admin_actor, "en", "guarantees", "# Guarantees\n\nPLANTED new wording of the guarantees.")
    call = voice.provider.place_call(CALLER, presses=["3", "2"])
    assert "Guarantees. PLANTED new wording of the guarantees." in _said(call)


# --- operators on duty ---------------------------------------------------------------------------------


def test_nobody_on_duty_offers_voicemail_which_is_sealed_and_deleted_at_the_provider(voice: VoiceRig) -> None:
    audio = b"RIFF" + b"\x00" * 4 + b"WAVEfmt " + b"PLANTED-VOICE-RECORDING" * 200
    call = voice.provider.place_call(CALLER, presses=["2", "3"], speech=Speech(seconds=14, audio=audio, end="#"))
    text = _said(call)
    assert "Зараз усі оператори зайняті." in text and "Залиште повідомлення після сигналу" in text
    assert "Дякуємо. Ваше повідомлення отримано" in text
    (sid,) = voice.provider.recordings
    assert not voice.provider.recordings[sid].deleted

    row = Call.objects.get()
    case = row.case
    assert case is not None and case.language == "uk" and case.priority == Priority.HIGH
    assert row.outcome == Call.Outcome.VOICEMAIL and row.recording == "fetching"
    assert _events(case) == ["incoming", "voicemail", "ended"]

    voice.deliver()
    row.refresh_from_db()
    assert row.recording == "deleted"
    recording = voice.provider.recordings[sid]
    assert recording.deleted and recording.media_fetches == 1
    # Deleted, then asked for again: only the 404 proves it is gone.
    asked = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in voice.provider.api_requests if sid in p]
    assert asked[-2:] == [("DELETE", f"{sid}.json", 204), ("GET", f"{sid}.json", 404)]
    attachment = Attachment.objects.get()
    assert attachment.kind == "voicemail" and attachment.size == len(audio)
    assert audio not in bytes(attachment.content_sealed)
    assert OutboxMessage.objects.count() == 0


def test_the_operator_plays_the_voicemail_from_the_case_page(voice: VoiceRig, org: Org) -> None:
    audio = b"RIFF" + b"\x00" * 4 + b"WAVE" + b"voice" * 100
    voice.provider.place_call(CALLER, presses=["3", "4"], speech=Speech(seconds=5, audio=audio))
    voice.deliver()
    case = Case.objects.get()
    from tests.console_support import admin_staff

    client = signed_in_client(admin_staff(org))
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "voicemail left (5 s)" in page and "incoming call" in page
    (url,) = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    played = client.get(url)
    assert played.status_code == 200 and played.content == audio
    assert played["Content-Type"] == "audio/wav" and "no-store" in played["Cache-Control"]
    assert AuditEvent.objects.filter(action="attachment.read").count() == 1
    assert CALLER not in page and CALLER.lstrip("+") not in page


def test_an_operator_on_duty_answers_and_the_call_joins_their_queue(voice: VoiceRig, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR).user
    _on_duty(alice, OPERATOR_PHONE)
    voice.provider.phones[OPERATOR_PHONE] = Answer(talk_seconds=95)
    call = voice.provider.place_call(CALLER, presses=["1", "3"])
    (dial,) = call.dials
    assert dial.addresses == [OPERATOR_PHONE] and dial.outcome == "completed"
    assert dial.caller_id == HOTLINE_NUMBER  # the operator's phone shows the hotline, not the caller
    assert "Звонок на горячую линию. Нажмите 1" in _said(call, "callee")
    row = Call.objects.get()
    assert row.answered_by == alice and row.outcome == Call.Outcome.ANSWERED
    assert row.talk_seconds is not None and row.talk_seconds >= 95
    case = row.case
    assert case is not None and case.assignee == alice
    assert _events(case) == ["incoming", "answered", "ended"]


def test_an_operator_who_does_not_answer_leads_to_voicemail_and_the_next_is_rung_in_turn(
    voice: VoiceRig, org: Org, settings: Any
) -> None:
    settings.VOICE_RING_STRATEGY = "sequential"
    alice = make_staff(org, "alice", Role.OPERATOR).user
    bob = make_staff(org, "bob", Role.OPERATOR).user
    _on_duty(alice, OPERATOR_PHONE)
    _on_duty(bob, "sip:bob@pbx.example.org")
    voice.provider.phones[OPERATOR_PHONE] = NoAnswer()
    voice.provider.phones["sip:bob@pbx.example.org"] = Answer(talk_seconds=30, presses=[None])  # declines
    call = voice.provider.place_call(CALLER, presses=["3", "3"], speech=Speech(seconds=8))
    assert [d.addresses for d in call.dials] == [[OPERATOR_PHONE], ["sip:bob@pbx.example.org"]]
    assert all(d.outcome != "completed" for d in call.dials)
    assert "No operator could answer." in _said(call)
    row = Call.objects.get()
    assert row.answered_by is None and row.outcome == Call.Outcome.VOICEMAIL and row.wanted_operator


def test_a_missed_call_opens_a_case_in_the_queue(voice: VoiceRig, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR).user
    _on_duty(alice, OPERATOR_PHONE)
    voice.provider.phones[OPERATOR_PHONE] = NoAnswer()
    # Nobody answers; the caller says nothing at the voicemail and hangs up in the menu.
    voice.provider.place_call(CALLER, presses=["3", "3"], speech=None)
    row = Call.objects.get()
    assert row.outcome == Call.Outcome.MISSED and row.case is not None
    assert row.case.priority == Priority.HIGH and row.case.assignee is None
    assert _events(row.case) == ["incoming", "ended"]
    assert AuditEvent.objects.get(action="case.call", details__event="ended").details["outcome"] == "missed"


def test_only_operators_on_duty_are_rung(voice: VoiceRig, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR).user
    calls.do_set_line(alice, OPERATOR_PHONE)  # has a line, is not on duty
    voice.provider.phones[OPERATOR_PHONE] = Answer()
    call = voice.provider.place_call(CALLER, presses=["3", "3"])
    assert call.dials == [] and "All operators are busy right now." in _said(call)
    calls.do_set_duty(alice, True)
    call = voice.provider.place_call(CALLER, presses=["3", "3"])
    assert [d.addresses for d in call.dials] == [[OPERATOR_PHONE]]


# --- callbacks ---------------------------------------------------------------------------------------------


def test_a_callback_bridges_operator_and_caller_without_the_operator_seeing_the_number(
    voice: VoiceRig, org: Org
) -> None:
    staff = make_staff(org, "alice", Role.OPERATOR)
    calls.do_set_line(staff.user, OPERATOR_PHONE)
    call = voice.provider.place_call(CALLER, presses=["3", "5"])
    assert "We will call you back at this number." in _said(call)
    callback = Callback.objects.get()
    case = callback.case
    assert case.priority == Priority.URGENT and callback.state == Callback.State.REQUESTED
    raised = AuditEvent.objects.get(action="case.priority", object_id=str(case.pk))
    assert raised.details == {"from": "normal", "to": "urgent", "reason": "callback"} and raised.role == "system"
    assert _events(case) == ["incoming", "callback_requested", "ended"]

    client = signed_in_client(staff)
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    assert "Call back" in page
    response = client.post(f"/console/case/{case.pk}/callback/", {"callback": str(callback.pk)})
    assert response.status_code == 302
    callback.refresh_from_db()
    assert callback.state == Callback.State.CALLING and callback.operator == staff.user

    voice.provider.phones[OPERATOR_PHONE] = Answer(talk_seconds=200)
    voice.provider.phones[CALLER] = Answer(talk_seconds=120)
    voice.deliver()  # the worker asks the provider to ring the operator
    (placed,) = voice.provider.run_pending()
    assert placed.to == OPERATOR_PHONE and placed.from_ == HOTLINE_NUMBER
    assert "Callback for application" in _said(placed)
    (dial,) = placed.dials
    assert dial.addresses == [CALLER] and dial.caller_id == HOTLINE_NUMBER and dial.outcome == "completed"
    callback.refresh_from_db()
    assert callback.state == Callback.State.DONE
    assert _events(case)[-2:] == ["callback_started", "callback_done"]

    # Nothing the operator's browser received holds the number, in any spelling.
    after = client.get(f"/console/case/{case.pk}/").content.decode() + client.get("/console/duty/").content.decode()
    for spelling in (CALLER, CALLER.lstrip("+"), "916 123", "9161234567"):
        assert spelling not in page and spelling not in after


def test_a_callback_nobody_picks_up_fails_and_can_be_tried_again(voice: VoiceRig, org: Org) -> None:
    staff = make_staff(org, "alice", Role.OPERATOR)
    calls.do_set_line(staff.user, OPERATOR_PHONE)
    voice.provider.place_call(CALLER, presses=["1", "5"])
    callback = Callback.objects.get()
    client = signed_in_client(staff)
    voice.provider.phones[OPERATOR_PHONE] = Answer()
    voice.provider.phones[CALLER] = NoAnswer()
    client.post(f"/console/case/{callback.case_id}/callback/", {"callback": str(callback.pk)})
    voice.deliver()
    (placed,) = voice.provider.run_pending()
    assert "Заявитель не ответил" in _said(placed)
    callback.refresh_from_db()
    assert callback.state == Callback.State.FAILED and callback.last_result == "applicant no-answer"
    # The operator does not answer their own phone: failed again, from their leg.
    voice.provider.phones[OPERATOR_PHONE] = NoAnswer()
    assert client.post(f"/console/case/{callback.case_id}/callback/", {"callback": str(callback.pk)}).status_code == 302
    voice.deliver()
    voice.provider.run_pending()
    callback.refresh_from_db()
    assert callback.state == Callback.State.FAILED and callback.attempts == 2
    assert callback.last_result.startswith("operator ")
    assert _events(callback.case).count("callback_failed") == 2


def test_a_hidden_number_cannot_ask_for_a_callback_and_is_never_joined(voice: VoiceRig) -> None:
    call = voice.provider.place_call(None, presses=["3", "5"])
    assert "Your number is hidden, so we cannot call you back." in _said(call)
    assert Callback.objects.count() == 0
    voice.provider.place_call(None, presses=["3", "4"], speech=Speech(seconds=3))
    voice.provider.place_call(None, presses=["3", "4"], speech=Speech(seconds=3))
    assert Case.objects.count() == 2


def test_a_repeat_caller_joins_their_open_case(voice: VoiceRig) -> None:
    voice.provider.place_call(CALLER, presses=["1", "4"], speech=Speech(seconds=4))
    voice.provider.place_call(CALLER, presses=["1", "5"])
    voice.provider.place_call("+380441234567", presses=["1", "4"], speech=Speech(seconds=4))
    cases = list(Case.objects.order_by("created_at"))
    assert len(cases) == 2
    first = cases[0]
    assert Call.objects.filter(case=first).count() == 2 and first.priority == Priority.URGENT
    assert Message.objects.filter(case=first).count() == 1 and Callback.objects.get().case == first


# --- the provider's retries, signatures, hostile input -------------------------------------------------


def test_a_retried_webhook_changes_nothing_more(voice: VoiceRig, org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR).user
    _on_duty(alice, OPERATOR_PHONE)
    voice.provider.phones[OPERATOR_PHONE] = NoAnswer()
    voice.provider.retry_webhooks = True  # every webhook twice, as after a timeout
    call = voice.provider.place_call(CALLER, presses=["1", "3"], speech=Speech(seconds=6))
    voice.provider.place_call(CALLER, presses=["1", "5"])
    voice.provider.retry_webhooks = False
    for index in range(len(call.webhooks)):
        voice.provider.redeliver(call.sid, index)
    assert Call.objects.count() == 2 and Case.objects.count() == 1
    case = Case.objects.get()
    assert Message.objects.filter(case=case).count() == 1
    assert Callback.objects.count() == 1
    assert _events(case) == ["incoming", "voicemail", "ended", "incoming", "callback_requested", "ended"]
    assert OutboxMessage.objects.filter(kind="fetch").count() == 1


def _signed_post(client: Client, path: str, params: dict[str, str], token: str = TOKEN) -> Any:
    url = BASE + path
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(voice: VoiceRig) -> None:
    client = Client()
    params = {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": HOTLINE_NUMBER, "CallStatus": "ringing"}
    assert client.post("/voice/incoming", params).status_code == 403
    assert _signed_post(client, "/voice/incoming", params, token="not-the-token").status_code == 403
    # Signed for other parameters (a replayed signature with a changed number).
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/voice/incoming", params)
    forged = {**params, "From": "+380000000000"}
    assert client.post("/voice/incoming", forged, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert Call.objects.count() == 0
    assert _signed_post(client, "/voice/incoming", params).status_code == 200
    assert Call.objects.count() == 1


def test_the_phone_line_is_off_without_a_token(voice: VoiceRig, settings: Any) -> None:
    settings.VOICE_AUTH_TOKEN = ""
    assert Client().post("/voice/incoming", {"CallSid": "CA" + "1" * 32}).status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/voice/incoming", {"CallSid": "x" * 5000, "From": CALLER}),
        ("/voice/incoming", {"From": CALLER}),
        ("/voice/incoming", {"CallSid": "CA../../etc", "From": CALLER}),
        ("/voice/choice?lang=en", {"CallSid": "CA" + "2" * 32, "Digits": "1<script>"}),
        ("/voice/choice?lang=zz", {"CallSid": "CA" + "2" * 32, "Digits": "1"}),
        ("/voice/menu?lang=en&tries=99999999999999999999999", {"CallSid": "CA" + "2" * 32}),
        ("/voice/recorded?lang=en", {"CallSid": "CA" + "2" * 32, "RecordingSid": "RE1", "RecordingDuration": "-5"}),
        (
            "/voice/recorded?lang=en",
            {"CallSid": "CA" + "2" * 32, "RecordingSid": "RE" + "1" * 32, "RecordingDuration": "9" * 40},
        ),
        ("/voice/status", {"CallSid": "CA" + "2" * 32, "CallStatus": "completed", "CallDuration": "1e9"}),
        ("/voice/accept?call=not-a-uuid&line=x", {"CallSid": "CA" + "2" * 32, "Digits": "1"}),
        ("/voice/bridged?callback=" + "f" * 300, {"CallSid": "CA" + "2" * 32, "DialCallStatus": "completed"}),
        ("/voice/dialed?lang=en&pos=-1", {"CallSid": "CA" + "2" * 32, "DialCallStatus": "no-answer"}),
    ],
)
def test_garbage_parameters_get_a_4xx_with_a_reason(voice: VoiceRig, path: str, params: dict[str, str]) -> None:
    response = _signed_post(Client(), path, params)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]
    for value in params.values():  # the reason never echoes what was sent
        if len(value) > 3:
            assert value not in response.content.decode()


def test_nul_bytes_and_oversized_bodies_are_refused_before_the_webhook(voice: VoiceRig) -> None:
    client = Client()
    assert _signed_post(client, "/voice/incoming", {"CallSid": "CA" + "3" * 32, "From": "+7\x00916"}).status_code == 400
    huge = {"CallSid": "CA" + "3" * 32, "From": CALLER, "Junk": "x" * (12 * 1024 * 1024)}
    assert client.post("/voice/incoming", huge).status_code in (400, 413)
    assert Call.objects.count() == 0


def test_no_number_no_keys_and_no_recording_reach_the_logs(voice: VoiceRig, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    audio = b"RIFF" + b"\x00" * 4 + b"WAVE" + b"PLANTED-AUDIO" * 50
    voice.provider.fail_next("GET", r"Recordings/.*\.wav", 500)  # a provider error on the way
    voice.provider.place_call(CALLER, presses=["1", "4"], speech=Speech(seconds=9, audio=audio))
    voice.deliver()
    OutboxMessage.objects.update(not_before="2000-01-01T00:00:00Z")
    voice.deliver()
    _signed_post(Client(), "/voice/choice?lang=ru", {"CallSid": "CA" + "4" * 32, "Digits": "12345#"})
    assert Attachment.objects.count() == 1
    text = caplog.text
    for needle in (CALLER, CALLER.lstrip("+"), "PLANTED-AUDIO", "12345#"):
        assert needle not in text


def test_the_providers_rate_limit_holds_a_callback_until_it_may_go(voice: VoiceRig, org: Org) -> None:
    staff = make_staff(org, "alice", Role.OPERATOR)
    calls.do_set_line(staff.user, OPERATOR_PHONE)
    voice.provider.place_call(CALLER, presses=["1", "5"])
    voice.provider.place_call("+380441234567", presses=["1", "5"])
    voice.provider.calls_per_second = 1
    voice.provider._monotonic = lambda: 1000.0  # the clock stands still: the second call is over the rate
    for callback in Callback.objects.all():
        calls.do_start_callback(staff.user, callback)
    voice.deliver()
    held = OutboxMessage.objects.get(kind="call")
    assert held.last_error == "retry_after" and held.attempts == 0
    assert len([c for c in voice.provider.calls.values() if c.direction == "outbound-api"]) == 1
    voice.provider._monotonic = lambda: 2000.0
    OutboxMessage.objects.update(not_before="2000-01-01T00:00:00Z")
    voice.deliver()
    assert OutboxMessage.objects.count() == 0
    assert len([c for c in voice.provider.calls.values() if c.direction == "outbound-api"]) == 2


def test_a_callback_the_provider_refuses_for_good_fails_and_can_be_retried(voice: VoiceRig, org: Org) -> None:
    staff = make_staff(org, "alice", Role.OPERATOR)
    calls.do_set_line(staff.user, OPERATOR_PHONE)
    voice.provider.place_call(CALLER, presses=["1", "5"])
    callback = Callback.objects.get()
    voice.provider.fail_next("POST", r"Calls\.json", 400)
    calls.do_start_callback(staff.user, callback)
    voice.deliver()
    callback.refresh_from_db()
    assert callback.state == Callback.State.FAILED and callback.last_result == "provider not placed"
    assert OutboxMessage.objects.count() == 0
    calls.do_start_callback(staff.user, callback)  # may be tried again
    with pytest.raises(calls.VoiceError):
        calls.do_start_callback(staff.user, callback)  # but not twice at once


def test_the_duty_page_sets_a_line_and_duty_and_supervisors_see_who_is_on(voice: VoiceRig, org: Org) -> None:
    from tests.console_support import admin_staff

    staff = make_staff(org, "alice", Role.OPERATOR)
    client = signed_in_client(staff)
    assert client.post("/console/duty/toggle/", {"on_duty": "1"}).status_code == 400  # no line yet
    assert client.post("/console/duty/line/", {"address": "not a number"}).status_code == 400
    assert client.post("/console/duty/line/", {"address": "sip:alice@"}).status_code == 400
    assert client.post("/console/duty/line/", {"address": "+380 (50) 111-22-33"}).status_code == 302
    assert client.post("/console/duty/toggle/", {"on_duty": "1"}).status_code == 302
    assert [line.address for line in calls.lines_on_duty()] == [OPERATOR_PHONE]
    page = client.get("/console/duty/").content.decode()
    assert "…233" in page and "on duty" in page and "111-22" not in page and "501112233" not in page
    supervisor_page = signed_in_client(admin_staff(org)).get("/console/duty/").content.decode()
    assert "alice" in supervisor_page and "501112233" not in supervisor_page
    assert client.post("/console/duty/toggle/", {"on_duty": "0"}).status_code == 302
    assert calls.lines_on_duty() == []
    events = list(AuditEvent.objects.filter(action__in=["voice.line", "voice.duty"]).values_list("action", flat=True))
    assert events == ["voice.line", "voice.duty", "voice.duty"]


def test_a_broken_menu_file_is_named_and_the_spoken_text_has_no_markup(tmp_path: Any) -> None:
    from hotline.channels.voice import menu

    with pytest.raises(menu.MenuError, match=r"prompts\.goodbye needs a text in every language"):
        menu.parse(
            {
                "languages": [{"code": "ru", "key": "1", "say": "ru-RU"}],
                "menu": [{"key": "1", "action": "repeat", "label": {"ru": "x"}}],
                "prompts": {name: {"ru": "x"} for name in menu.PROMPTS - {"goodbye"}},
            }
        )
    with pytest.raises(menu.MenuError, match="page must be one of"):
        menu.parse(
            {
                "languages": [{"code": "ru", "key": "1", "say": "ru-RU"}],
                "menu": [{"key": "1", "action": "page", "page": "../../etc/passwd", "label": {"ru": "x"}}],
            }
        )
    with pytest.raises(menu.MenuError, match="menu keys repeat"):
        menu.parse(
            {
                "languages": [{"code": "ru", "key": "1", "say": "ru-RU"}],
                "menu": [
                    {"key": "1", "action": "repeat", "label": {"ru": "x"}},
                    {"key": "1", "action": "repeat", "label": {"ru": "y"}},
                ],
            }
        )
    text = menu.spoken("# Title\n\n- **Bold** item with [a link](page:contacts)\n\n1. `code`\n\nLast line")
    assert text == "Title. Bold item with a link. code. Last line."
    long = menu.spoken("Sentence one. " * 500)
    assert len(long) <= menu.SPOKEN_LIMIT and long.endswith(".")


def test_erasing_a_case_forgets_its_calls_and_callbacks(voice: VoiceRig, org: Org) -> None:
    from hotline.cases import actions
    from hotline.core.lifecycle import Status

    voice.provider.place_call(CALLER, presses=["1", "5"])
    voice.provider.place_call(CALLER, presses=["1", "4"], speech=Speech(seconds=3))
    voice.deliver()
    case = Case.objects.get()
    actions.do_transition(org.admin_actor, case, Status.CLOSED)
    actions.do_shred_case(org.admin_actor, Case.objects.get())
    assert Callback.objects.count() == 0
    for row in Call.objects.all():
        assert row.case_id is None and row.identity_id is None and row.duration is None
        assert (row.started_at.hour, row.started_at.minute, row.started_at.second) == (0, 0, 0)
    assert sorted(Call.objects.values_list("outcome", flat=True)) == ["callback", "voicemail"]


def test_webhooks_are_lean_no_session_no_cookie(voice: VoiceRig) -> None:
    response = _signed_post(Client(), "/voice/incoming", {"CallSid": "CA" + "5" * 32, "From": CALLER})
    assert response.status_code == 200 and response.cookies == {}
    assert response["Content-Type"].startswith("text/xml") and "no-store" in response["Cache-Control"]


def test_a_database_that_is_down_gets_503_so_the_provider_retries(voice: VoiceRig) -> None:
    from tests.conftest import database_down

    params = {"CallSid": "CA" + "6" * 32, "From": CALLER}
    with database_down():
        response = _signed_post(Client(), "/voice/incoming", params)
    assert response.status_code == 503 and response.json()["error"] == "database unavailable"
    assert _signed_post(Client(), "/voice/incoming", params).status_code == 200  # the retry works
    assert Call.objects.count() == 1


def test_a_flagged_caller_rings_nobody_and_what_they_leave_is_quarantined(voice: VoiceRig, org: Org) -> None:
    from hotline.cases import triage
    from hotline.core.lifecycle import RejectReason

    alice = make_staff(org, "alice", Role.OPERATOR).user
    _on_duty(alice, OPERATOR_PHONE)
    voice.provider.phones[OPERATOR_PHONE] = Answer()
    voice.provider.place_call(CALLER, presses=["1", "5"])
    case = Case.objects.get()
    triage.do_flag(org.admin_actor, case, RejectReason.PROBE)
    Callback.objects.all().delete()

    call = voice.provider.place_call(CALLER, presses=["3", "3"], speech=Speech(seconds=4, end="#"))
    assert call.dials == [] and "All operators are busy right now." in _said(call)
    voice.provider.place_call(CALLER, presses=["3", "5"])  # sounds accepted, is dropped
    voice.deliver()
    assert Case.objects.count() == 1 and Callback.objects.count() == 0
    (message,) = Message.objects.filter(case=case)
    assert message.quarantined and Attachment.objects.filter(message=message).count() == 1
    assert not AuditEvent.objects.filter(action="case.call", details__event="voicemail").exists()
