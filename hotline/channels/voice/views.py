"""The phone line's webhooks: the provider POSTs a call's events here, we answer with TwiML.

Every request is checked before anything else:

* the phone line is configured (``VOICE_AUTH_TOKEN``), else 404;
* ``X-Twilio-Signature`` is right for the URL the provider used and every parameter (the ``twilio``
  package's ``RequestValidator``), else 403 and nothing changes;
* every parameter we use has its expected shape (a CallSid, keypad keys, a number of seconds, one of
  the menu's languages), else 400 with the reason — never a 500; the reason never echoes a value;
* a database that is down gives 503, so the provider retries (and the caller hears its fallback).

Every write goes through ``dbwrite.run_write``: on SQLite it joins the group commit of the writer
process (as the Telegram webhook and the form do), elsewhere the process's writer thread.

Numbers, keys pressed and recordings never appear in a log line: we log call ids, nothing else.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from hotline.dbwrite import run_write
from hotline.inputs import parse_int

from . import calls
from . import menu as voice_menu
from .models import Call

log = logging.getLogger("hotline.voice")

_SID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
_DIGITS = re.compile(r"^[0-9*#]{0,32}$")
_STATUS = re.compile(r"^[a-z\-]{1,20}$")
MAX_VALUE = 512  # no parameter we use is longer
FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


class BadInput(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Hook:
    request: HttpRequest

    def param(self, name: str, pattern: re.Pattern[str] | None = None, *, required: bool = False) -> str:
        value = self.request.POST.get(name, "")
        if len(value) > MAX_VALUE:
            raise BadInput(f"{name} is too long")
        if not value:
            if required:
                raise BadInput(f"{name} is missing")
            return ""
        if pattern is not None and not pattern.match(value):
            raise BadInput(f"{name} is not valid")
        return value

    def seconds(self, name: str) -> int | None:
        value = self.param(name)
        if not value:
            return None
        parsed = parse_int(value, minimum=0, maximum=7 * 24 * 3600)
        if parsed is None:
            raise BadInput(f"{name} is not a number of seconds")
        return parsed

    @property
    def call_sid(self) -> str:
        return self.param("CallSid", _SID, required=True)

    @property
    def digits(self) -> str:
        return self.param("Digits", _DIGITS)

    def query_id(self, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(self.request.GET.get(name, ""))
        except ValueError:
            raise BadInput(f"{name} is not an id") from None

    def query_int(self, name: str, maximum: int) -> int:
        raw = self.request.GET.get(name, "0")
        value = parse_int(raw, minimum=0, maximum=maximum)
        if value is None:
            raise BadInput(f"{name} is out of range")
        return value

    @property
    def lang(self) -> voice_menu.Language:
        menu = voice_menu.load()
        found = menu.language(self.request.GET.get("lang", "")) if "lang" in self.request.GET else menu.languages[0]
        if found is None:
            raise BadInput("lang is not one of the menu's languages")
        return found

    def url(self, name: str, **query: object) -> str:
        from .urls import absolute

        return absolute(name, self.request, **query)


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": reason}, status=status)


def _signed(request: HttpRequest) -> bool:
    from .urls import base

    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    url = base(request) + request.get_full_path()
    params = {key: request.POST.get(key, "") for key in request.POST}
    return bool(RequestValidator(settings.VOICE_AUTH_TOKEN).validate(url, params, signature))


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml; charset=utf-8")


def _empty() -> HttpResponse:
    return HttpResponse(status=204)


View = Callable[[Hook], HttpResponse]


def webhook(view: View) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        if not settings.VOICE_AUTH_TOKEN:
            return _error(404, "the phone line is not configured")
        if request.method != "POST":
            return _error(405, "the provider POSTs call events")
        if not _signed(request):
            return _error(403, "wrong or missing X-Twilio-Signature")
        try:
            return view(Hook(request))
        except BadInput as exc:
            return _error(400, exc.reason)
        except voice_menu.MenuError as exc:
            log.error("voice: the voice menu is broken: %s", exc)
            return _error(503, "the voice menu is broken")
        except DatabaseError as exc:
            log.warning("voice: database unavailable (%s); the provider will retry", type(exc).__name__)
            return _error(503, "database unavailable")

    return wrapped


def _call(hook: Hook) -> Call:
    """The call this webhook is about (created if its first webhook was lost)."""
    sid = hook.call_sid
    return calls.find_call(sid) or run_write(calls.start_call, sid, hook.param("From"))


def _say(response: VoiceResponse | Dial, text: str, lang: voice_menu.Language) -> None:
    response.say(text, language=lang.say)


# --- the caller's menu ---------------------------------------------------------------------------------


@webhook
def incoming(hook: Hook) -> HttpResponse:
    """A new call: choose a language (each language's sentence in its own voice)."""
    run_write(calls.start_call, hook.call_sid, hook.param("From"))
    menu = voice_menu.load()
    tries = hook.query_int("tries", 10)
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=hook.url("voice-language"), timeout=6)
    for lang in menu.languages:
        gather.say(lang.choose, language=lang.say)
    if tries < 2:
        response.redirect(hook.url("voice-incoming", tries=tries + 1))
    else:  # no choice after three times: the first language
        response.redirect(hook.url("voice-menu", lang=menu.languages[0].code, welcome=1))
    return _twiml(response)


@webhook
def language(hook: Hook) -> HttpResponse:
    menu = voice_menu.load()
    chosen = menu.language_by_key(hook.digits)
    response = VoiceResponse()
    if chosen is None:
        for lang in menu.languages:
            _say(response, menu.prompt("not_understood", lang.code), lang)
        response.redirect(hook.url("voice-incoming", tries=1))
        return _twiml(response)
    run_write(calls.set_language, _call(hook), chosen.code)
    response.redirect(hook.url("voice-menu", lang=chosen.code, welcome=1))
    return _twiml(response)


@webhook
def menu_view(hook: Hook) -> HttpResponse:
    menu, lang = voice_menu.load(), hook.lang
    tries = hook.query_int("tries", 10)
    run_write(calls.back_to_menu, _call(hook))
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=hook.url("voice-choice", lang=lang.code), timeout=8)
    if hook.request.GET.get("welcome"):
        _say(gather, menu.prompt("welcome", lang.code), lang)
    for sentence in menu.choices(lang.code):
        gather.say(sentence, language=lang.say)
    if tries < 2:
        response.redirect(hook.url("voice-menu", lang=lang.code, tries=tries + 1))
    else:
        _say(response, menu.prompt("goodbye", lang.code), lang)
        response.hangup()
    return _twiml(response)


@webhook
def choice(hook: Hook) -> HttpResponse:
    menu, lang = voice_menu.load(), hook.lang
    item = menu.item(hook.digits)
    call = _call(hook)
    response = VoiceResponse()
    back = hook.url("voice-menu", lang=lang.code)
    if item is None:
        _say(response, menu.prompt("not_understood", lang.code), lang)
        response.redirect(back)
    elif item.action == "page":
        # Read inside a Gather: a key pressed while it is read chooses from the menu at once.
        text = voice_menu.page_speech(lang.code, item.page) or menu.prompt("no_text", lang.code)
        gather = response.gather(num_digits=1, action=hook.url("voice-choice", lang=lang.code), timeout=3)
        _say(gather, text, lang)
        response.redirect(back)
    elif item.action == "repeat":
        response.redirect(back)
    elif item.action == "operator":
        run_write(calls.want_operator, call)
        lines = [] if calls.is_blocked(call) else calls.lines_on_duty()
        if not lines:
            _say(response, menu.prompt("no_operator", lang.code), lang)
            response.redirect(hook.url("voice-voicemail", lang=lang.code))
        else:
            _say(response, menu.prompt("connecting", lang.code), lang)
            _ring(hook, response, call, lines, 0, lang)
    elif item.action == "voicemail":
        response.redirect(hook.url("voice-voicemail", lang=lang.code))
    elif item.action == "callback":
        if run_write(calls.request_callback, call) is None:
            _say(response, menu.prompt("callback_needs_number", lang.code), lang)
            response.redirect(back)
        else:
            _say(response, menu.prompt("callback_ok", lang.code), lang)
            _say(response, menu.prompt("goodbye", lang.code), lang)
            response.hangup()
    return _twiml(response)


def _ring(
    hook: Hook, response: VoiceResponse, call: Call, lines: list[calls.Line], position: int, lang: voice_menu.Language
) -> None:
    """Ring operators on duty: all at once, or the one at ``position`` (in turn). The operator's phone
    shows the hotline's number, never the caller's."""
    dial = response.dial(
        caller_id=settings.VOICE_NUMBER or None,
        timeout=settings.VOICE_RING_TIMEOUT_SECONDS,
        action=hook.url("voice-dialed", lang=lang.code, pos=position),
    )
    chosen = lines if settings.VOICE_RING_STRATEGY == "simultaneous" else [lines[position]]
    for line in chosen:
        whisper = hook.url("voice-whisper", call=call.id, line=line.id, lang=lang.code)
        if line.is_sip:
            dial.sip(line.address, url=whisper)
        else:
            dial.number(line.address, url=whisper)


@webhook
def whisper(hook: Hook) -> HttpResponse:
    """On the operator's leg, before the caller is put through: press 1 to take the call (so that an
    operator's own voicemail never takes a call)."""
    menu, lang = voice_menu.load(), hook.lang
    call_id, line_id = hook.query_id("call"), hook.query_id("line")
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1, timeout=8, action=hook.url("voice-accept", call=call_id, line=line_id, lang=lang.code)
    )
    _say(gather, menu.prompt("operator_whisper", lang.code), lang)
    response.hangup()
    return _twiml(response)


@webhook
def accept(hook: Hook) -> HttpResponse:
    call = Call.objects.filter(pk=hook.query_id("call")).first()
    line = calls.line_address(hook.query_id("line"))
    response = VoiceResponse()
    if hook.digits != "1" or call is None or line is None or not run_write(calls.accept, call, line):
        response.hangup()
    return _twiml(response)  # an empty answer on the operator's leg: the two are connected


@webhook
def dialed(hook: Hook) -> HttpResponse:
    """The Dial to the operators is over: it was answered, or ring the next one, or offer voicemail."""
    menu, lang = voice_menu.load(), hook.lang
    call = _call(hook)
    status = hook.param("DialCallStatus", _STATUS)
    response = VoiceResponse()
    if run_write(calls.dial_ended, call, status, hook.seconds("DialCallDuration")):
        response.hangup()
        return _twiml(response)
    position = hook.query_int("pos", 1000) + 1
    lines = calls.lines_on_duty()
    if settings.VOICE_RING_STRATEGY == "sequential" and position < len(lines):
        _ring(hook, response, call, lines, position, lang)
        return _twiml(response)
    _say(response, menu.prompt("nobody_answered", lang.code), lang)
    response.redirect(hook.url("voice-voicemail", lang=lang.code))
    return _twiml(response)


@webhook
def voicemail(hook: Hook) -> HttpResponse:
    menu, lang = voice_menu.load(), hook.lang
    run_write(calls.start_recording, _call(hook))
    response = VoiceResponse()
    _say(response, menu.prompt("voicemail", lang.code), lang)
    response.record(
        max_length=settings.VOICE_MAX_RECORDING_SECONDS,
        finish_on_key="#",
        play_beep=True,
        timeout=10,
        action=hook.url("voice-recorded", lang=lang.code),
        recording_status_callback=hook.url("voice-recording", lang=lang.code),
        recording_status_callback_event="completed",
    )
    _say(response, menu.prompt("no_recording", lang.code), lang)
    response.redirect(hook.url("voice-menu", lang=lang.code))
    return _twiml(response)


def _register_recording(hook: Hook) -> bool:
    sid = hook.param("RecordingSid", _SID)
    seconds = hook.seconds("RecordingDuration")
    if not sid or not seconds:
        return False
    run_write(calls.register_voicemail, _call(hook), sid, seconds)
    return True


@webhook
def recorded(hook: Hook) -> HttpResponse:
    """The Record verb's action: the caller finished speaking (or hung up)."""
    menu, lang = voice_menu.load(), hook.lang
    response = VoiceResponse()
    if _register_recording(hook):
        _say(response, menu.prompt("voicemail_thanks", lang.code), lang)
        _say(response, menu.prompt("goodbye", lang.code), lang)
        response.hangup()
    else:
        _say(response, menu.prompt("no_recording", lang.code), lang)
        response.redirect(hook.url("voice-menu", lang=lang.code))
    return _twiml(response)


@webhook
def recording(hook: Hook) -> HttpResponse:
    """The recording status callback: the recording is ready at the provider."""
    if hook.param("RecordingStatus", _STATUS) == "completed":
        _register_recording(hook)
    return _empty()


@webhook
def status(hook: Hook) -> HttpResponse:
    """The call's status callback (set on the number at the provider): the call is over."""
    call_status = hook.param("CallStatus", _STATUS)
    duration = hook.seconds("CallDuration")
    if call_status in FINAL_STATUSES:
        call = calls.find_call(hook.call_sid)
        if call is not None:
            run_write(calls.end_call, call, call_status, duration)
    return _empty()


# --- callbacks ---------------------------------------------------------------------------------------


def _case_language(case_language: str) -> voice_menu.Language:
    menu = voice_menu.load()
    return menu.language(case_language) or menu.languages[0]


@webhook
def bridge(hook: Hook) -> HttpResponse:
    """The operator answered our callback call: tell them which case, then call the applicant."""
    hook.call_sid  # noqa: B018 - checked like every webhook's
    target = calls.callback_target(hook.query_id("callback"))
    response = VoiceResponse()
    if target is None:
        response.hangup()
        return _twiml(response)
    callback, address = target
    lang = _case_language(callback.case.language)
    number = str(callback.case.number.id) if hasattr(callback.case, "number") else ""
    menu = voice_menu.load()
    _say(response, menu.prompt("callback_whisper", lang.code, number=number), lang)
    dial = response.dial(
        caller_id=settings.VOICE_NUMBER or None,
        timeout=settings.VOICE_RING_TIMEOUT_SECONDS,
        action=hook.url("voice-bridged", callback=callback.id),
    )
    dial.number(address)
    return _twiml(response)


@webhook
def bridged(hook: Hook) -> HttpResponse:
    callback = run_write(
        calls.callback_ended,
        hook.query_id("callback"),
        hook.param("DialCallStatus", _STATUS),
        hook.seconds("DialCallDuration"),
        leg="applicant",
    )
    response = VoiceResponse()
    if callback is not None and callback.state == callback.State.FAILED:
        lang = _case_language(callback.case.language)
        _say(response, voice_menu.load().prompt("callback_no_answer", lang.code), lang)
    response.hangup()
    return _twiml(response)


@webhook
def bridge_status(hook: Hook) -> HttpResponse:
    call_status = hook.param("CallStatus", _STATUS)
    if call_status in FINAL_STATUSES:
        run_write(
            calls.callback_ended, hook.query_id("callback"), call_status, hook.seconds("CallDuration"), leg="operator"
        )
    return _empty()
