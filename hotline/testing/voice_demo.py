"""The phone line in ``hotline serve --demo``: the voice provider emulator in front of this server's
``/voice/…`` webhooks, and the simulated phone page's keypad (``POST /phone/call`` on the Telegram
emulator, which calls :meth:`VoiceDemo.handle`).

The demo's phone book (who answers when the hotline rings a number):

* ``+15550101`` and ``+15550102`` — demo operator lines that answer and press 1 to take the call;
  give one of them as your line on the console's On duty page and go on duty;
* ``+15550103`` — a line that rings and nobody answers;
* ``+15550104`` — a line that is busy;
* ``+15550199`` — the caller: every call from the page comes from this number, so a callback an
  operator places from the console reaches it (and it answers).

A call is run to its end at once (the emulator's time is simulated): the page sends the keys the
person pressed (``,`` waits, letting a menu time out) and whether to leave a 5-second message, and
gets back the transcript: what the caller heard, in which language, and what happened.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from hotline.testing.voice_emulator import (
    Answer,
    Busy,
    Call,
    HttpTransport,
    NoAnswer,
    PhoneEntry,
    Speech,
    Transport,
    VoiceProvider,
)

HOTLINE_NUMBER = "+15550100"
CALLER_NUMBER = "+15550199"
OPERATOR_LINES: dict[str, PhoneEntry] = {
    "+15550101": Answer(talk_seconds=45, ring_seconds=4, presses=("1",)),
    "+15550102": Answer(talk_seconds=30, ring_seconds=8, presses=("1",)),
    "+15550103": NoAnswer(),
    "+15550104": Busy(),
}
MESSAGE_SECONDS = 5
MAX_KEYS = 40
WAIT_KEY = ","  # in the keys the page sends: let the menu time out
KEYS = frozenset("0123456789*#" + WAIT_KEY)


@dataclass(frozen=True)
class _Mark:
    """A webhook, placed among what the caller heard (``position``: how much had been heard)."""

    position: int
    dials: int
    path: str
    params: dict[str, str]
    operator_leg: bool


@dataclass
class _Journal:
    provider: VoiceProvider
    marks: list[_Mark] = field(default_factory=list)

    def root(self, sid: str) -> Call | None:
        call = self.provider.calls.get(sid)
        if call is not None and call.parent_call_sid:
            return self.provider.calls.get(call.parent_call_sid)
        return call

    def webhook(self, url: str, params: dict[str, str]) -> None:
        sid = params.get("CallSid", "")
        root = self.root(sid)
        if root is None:
            return
        path = url.split("?", 1)[0]
        self.marks.append(_Mark(len(root.heard), len(root.dials), path, dict(params), operator_leg=root.sid != sid))


class JournalTransport:
    """Passes webhooks on to ``inner``; while a call placed from the page runs in this thread, notes
    each one, so that the transcript can say what happened between what the caller heard."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self._local = threading.local()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        journal: _Journal | None = getattr(self._local, "journal", None)
        if journal is not None:
            journal.webhook(url, params)
        return self.inner.post(url, params, headers)

    def begin(self, journal: _Journal) -> None:
        self._local.journal = journal

    def end(self) -> None:
        self._local.journal = None


class VoiceDemo:
    """The provider emulator, started for the demo, and the keypad's call endpoint."""

    def __init__(self, public_url: str, *, transport: Transport | None = None) -> None:
        self.public_url = public_url.rstrip("/")
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_urlsafe(24)
        self.transport = JournalTransport(transport or HttpTransport())
        self.provider = VoiceProvider(
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            number=HOTLINE_NUMBER,
            incoming_url=f"{self.public_url}/voice/incoming",
            status_url=f"{self.public_url}/voice/status",
            transport=self.transport,
        )
        self.provider.phones.update(OPERATOR_LINES)
        self.provider.phones[CALLER_NUMBER] = Answer(talk_seconds=60, ring_seconds=3, presses=())

    def start(self) -> VoiceDemo:
        """The REST API on a free local port, and callbacks placed by the worker run as they come."""
        self.provider.start_api()
        self.provider.start_background()
        return self

    def stop(self) -> None:
        self.provider.stop()

    def env(self) -> dict[str, str]:
        """The VOICE_* settings for serve's children (web processes and the worker)."""
        return {
            "VOICE_AUTH_TOKEN": self.auth_token,
            "VOICE_ACCOUNT_SID": self.account_sid,
            "VOICE_API_BASE": self.provider.api_base,
            "VOICE_PUBLIC_URL": self.public_url,
            "VOICE_NUMBER": HOTLINE_NUMBER,
        }

    # --- the page's endpoint ---------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "number": HOTLINE_NUMBER,
            "caller": CALLER_NUMBER,
            "message_seconds": MESSAGE_SECONDS,
            "operator_lines": sorted(OPERATOR_LINES),
        }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"keys": "34", "message": true}`` → the transcript. ``ValueError``: a bad request."""
        keys = request.get("keys", "")
        message = request.get("message", False)
        if not isinstance(keys, str) or not isinstance(message, bool):
            raise ValueError("keys is a string of 0-9, *, # and , (wait); message is true or false")
        if len(keys) > MAX_KEYS or not set(keys) <= KEYS:
            raise ValueError(f"keys holds at most {MAX_KEYS} of 0-9, *, # and , (wait)")
        return self.call(keys, message=message)

    def call(self, keys: str, *, message: bool) -> dict[str, Any]:
        presses: list[str | None] = [None if key == WAIT_KEY else key for key in keys]
        speech = Speech(seconds=MESSAGE_SECONDS, end="#") if message else None
        journal = _Journal(self.provider)
        self.transport.begin(journal)
        try:
            call = self.provider.place_call(CALLER_NUMBER, presses=presses, speech=speech)
        finally:
            self.transport.end()
        return {
            "number": HOTLINE_NUMBER,
            "caller": CALLER_NUMBER,
            "status": call.status,
            "seconds": round(call.duration),
            "lines": transcript(call, journal.marks, message=message),
        }


def _line(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "text": text, **extra}


def _dial_line(call: Call, index: int) -> dict[str, Any]:
    dial = call.dials[index]
    rung = ", ".join(dial.addresses) or "nobody"
    if dial.answered_by:
        outcome = f"answered by {dial.answered_by}; you talked {round(dial.talk_seconds)} s"
    else:
        outcome = "nobody took the call (" + ", ".join(f"{leg.address}: {leg.outcome}" for leg in dial.legs) + ")"
    return _line("event", f"The hotline rang operator line(s) {rung}: {outcome}.")


def _mark_lines(call: Call, mark: _Mark) -> list[dict[str, Any]]:
    digits = mark.params.get("Digits", "")
    if mark.path.endswith("/voice/recorded"):
        if mark.params.get("RecordingSid"):
            return [_line("event", f"Voice message recorded ({mark.params.get('RecordingDuration', '?')} s).")]
        return []
    if digits and digits != "hangup":
        if mark.operator_leg:
            return [_line("event", f"The operator pressed {digits} to take the call.")]
        return [_line("pressed", f"You pressed {digits}.")]
    return []


def transcript(call: Call, marks: list[_Mark], *, message: bool) -> list[dict[str, Any]]:
    """What the caller heard (and the operator's phone, when a line was rung), with what happened."""
    lines = [_line("event", f"You call the hotline at {call.to} from {call.from_}.")]
    dials_told = 0
    pending = list(marks)

    def tell(mark: _Mark) -> None:
        nonlocal dials_told
        while dials_told < min(mark.dials, len(call.dials)):
            lines.append(_dial_line(call, dials_told))
            dials_told += 1
        lines.extend(_mark_lines(call, mark))

    for position, heard in enumerate(call.heard):
        while pending and pending[0].position <= position:
            tell(pending.pop(0))
        who = "operator" if heard.leg == "callee" else "caller"
        text = heard.text if heard.verb == "say" else f"(a recording is played: {heard.text})"
        lines.append(_line("heard", text, language=heard.language or "", leg=who))
    for mark in pending:
        tell(mark)
    while dials_told < len(call.dials):
        lines.append(_dial_line(call, dials_told))
        dials_told += 1
    for error in call.errors:
        lines.append(_line("error", f"Provider {error.level} {error.code}: {error.message}"))
    if message and not call.recordings:
        lines.append(_line("event", "The call never reached the voice message, so nothing was recorded."))
    lines.append(_line("end", f"The call ended ({call.status}) after {round(call.duration)} s."))
    return lines
