"""A local voice provider that speaks the TwiML webhook contract, so tests and demos never reach a
real one (Twilio, SignalWire, Somleng).

The emulator plays the provider's side of a phone line: it places simulated calls to the hotline's
number, POSTs signed call events (``X-Twilio-Signature``) to the hotline's URLs, follows the TwiML the
hotline answers with (Say, Play, Pause, Gather, Record, Dial with Number/Sip/Client, Redirect, Hangup,
Reject), dials the parties of a ``<Dial>`` from a phone book, and serves the subset of the Twilio REST
API (2010-04-01) the hotline uses through the real ``twilio`` client: creating and fetching calls,
fetching recordings and their media, deleting recordings. It answers as Twilio does: the same JSON
error shape and codes, the same webhook parameters, the same documented limits (64 kB TwiML answers,
4096 characters per Say, 4000 characters of inline TwiML, one call per second)::

    provider = VoiceProvider(account_sid="AC" + "0" * 32, auth_token="secret", number="+15550100",
                             incoming_url="http://testserver/voice/incoming",
                             status_url="http://testserver/voice/status",
                             transport=DjangoClientTransport(django_client))
    provider.start_api()                                   # REST API on 127.0.0.1:<free port>
    provider.phones["+380501112233"] = Answer(talk_seconds=95)
    call = provider.place_call("+79161234567", presses=["1"], speech=Speech(seconds=12))
    assert call.status == "completed" and call.heard[0].verb == "say"

Time is simulated: nothing here sleeps. A call's ``duration`` adds up what would have taken time
(spoken text at ~15 characters a second, pauses, Gather timeouts, ringing, talking, recording).

``leg="caller"`` in :class:`Heard` is the call's own leg (for a call created through the REST API, the
party that was called); ``leg="callee"`` is a party reached through ``<Dial>`` (whisper TwiML).

Nothing here logs what was said, pressed or recorded.
"""

from __future__ import annotations

import base64
import binascii
import collections
import email.utils
import io
import json
import logging
import math
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import wave
import xml.etree.ElementTree as ET  # parses TwiML written by the hotline under test, at most 64 kB
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from django.test import Client as DjangoTestClient

__all__ = [
    "API_VERSION",
    "APPLICATION_ERROR_TEXT",
    "Answer",
    "Busy",
    "Call",
    "CallError",
    "DialAttempt",
    "DialLeg",
    "DjangoClientTransport",
    "Failed",
    "Heard",
    "HttpTransport",
    "NoAnswer",
    "Recording",
    "Speech",
    "Transport",
    "VoiceProvider",
    "Webhook",
]

logger = logging.getLogger("hotline.testing.voice_emulator")

API_VERSION = "2010-04-01"
MAX_TWIML_BYTES = 64 * 1024  # error 11750: TwiML response body too large
MAX_SAY_CHARS = 4096  # warning 13521: basic TTS voices are limited to 4096 characters
MAX_INLINE_TWIML_CHARS = 4000  # error 32018: Twiml size exceeded maximum allowed value
SAY_CHARS_PER_SECOND = 15.0
KEY_SECONDS = 0.5  # simulated time for one key press
LOOP_FOREVER = 1000  # loop="0" means "until the call ends"; the emulator stops after this many
MAX_DOCUMENTS_PER_LEG = 200  # a guard against redirect loops in the application under test
DEFAULT_API_CALL_TIMEOUT = 60  # Calls.json Timeout default
APPLICATION_ERROR_TEXT = "We are sorry, an application error has occurred. Goodbye."
UNSTARTED_API_BASE = "http://voice-emulator.invalid"  # RecordingUrl host before start_api()
DIGITS = frozenset("0123456789*#")

_SID_HEX = re.compile(r"[0-9a-f]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("calls", re.compile(_ACCOUNT + r"/Calls\.json")),
    ("call", re.compile(_ACCOUNT + r"/Calls/(?P<sid>CA[0-9a-f]{32})\.json")),
    ("recordings", re.compile(_ACCOUNT + r"/Recordings\.json")),
    ("recording", re.compile(_ACCOUNT + r"/Recordings/(?P<sid>RE[0-9a-f]{32})\.json")),
    ("media", re.compile(_ACCOUNT + r"/Recordings/(?P<sid>RE[0-9a-f]{32})(?P<ext>\.wav|\.mp3)?")),
]
_ERROR_MESSAGES = {
    400: "Bad Request",
    401: "Authenticate",
    403: "Forbidden",
    404: "Not Found",
    405: "Method not allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_TOP_VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Record", "Dial", "Hangup", "Redirect", "Reject"})
_CALLEE_VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Hangup", "Redirect"})
_GATHER_CHILDREN = frozenset({"Say", "Play", "Pause"})
_DIAL_NOUNS = frozenset({"Number", "Sip", "Client"})
_KNOWN_UNSUPPORTED = frozenset(
    {"Conference", "Connect", "Echo", "Enqueue", "Leave", "Pay", "Prompt", "Queue", "Refer", "Sms", "Start", "Stop"}
)


# --- the phone book and the simulated caller ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The address answers after ``ring_seconds`` (a ring longer than the Dial timeout is no answer)
    and talks ``talk_seconds``. ``presses`` is what this party keys in at each ``<Gather>`` of the
    TwiML run on its leg (whisper ``url`` of a Dial noun, or the call's TwiML when the REST API called
    it); ``None`` lets a Gather time out, and when presses run out at a Gather the party hangs up.
    ``hangs_up`` says who ends a bridged Dial conversation: ``"callee"`` (this party; the caller
    then goes on with the Dial action or the next verb) or ``"caller"`` (the call is over)."""

    talk_seconds: float = 60.0
    ring_seconds: float = 5.0
    presses: Sequence[str | None] = ("1",)
    hangs_up: Literal["callee", "caller"] = "callee"


@dataclass(frozen=True)
class NoAnswer:
    """The address rings until the timeout (DialCallStatus / CallStatus ``no-answer``)."""


@dataclass(frozen=True)
class Busy:
    """The address is busy (``busy``)."""


@dataclass(frozen=True)
class Failed:
    """The address cannot be reached (``failed``: the number does not exist)."""


PhoneEntry = Answer | NoAnswer | Busy | Failed


@dataclass(frozen=True)
class Speech:
    """What the caller says at a ``<Record>``: ``seconds`` of speech, stored as ``audio`` (WAV bytes;
    silence of that length when omitted) and ``mp3`` (the ``.mp3`` media; silent frames when omitted).
    ``end`` is how the recording ends: ``"hangup"`` (the caller hangs up: Digits=hangup, and the call
    is over), a key such as ``"#"`` (ends it when it is in finishOnKey), or ``"silence"`` (the caller
    stops talking and the Record timeout ends it). A Record's maxLength cuts longer speech."""

    seconds: float
    audio: bytes | None = None
    end: str = "hangup"
    mp3: bytes | None = None


# --- what the emulator records ----------------------------------------------------------------------


class Heard(NamedTuple):
    verb: str  # "say" | "play"
    text: str  # the spoken text, or the URL played
    language: str | None
    leg: str  # "caller" | "callee"

    @property
    def text_or_url(self) -> str:
        return self.text


class Webhook(NamedTuple):
    url: str
    params: dict[str, str]
    status_code: int  # 0 when the connection failed
    body: str


class CallError(NamedTuple):
    code: int  # Twilio's error/warning code (11200, 12100, 12200, 11750, 13520, 13521, 13214, ...)
    message: str
    url: str | None
    level: str = "error"  # "error" (the call heard the application error and ended) or "warning"


@dataclass
class DialLeg:
    address: str
    call_sid: str
    outcome: str  # completed | declined | no-answer | busy | failed | canceled


@dataclass
class DialAttempt:
    addresses: list[str]
    caller_id: str
    timeout: int
    outcome: str  # the DialCallStatus: completed | no-answer | busy | failed
    answered_by: str | None
    dial_call_sid: str
    legs: list[DialLeg]
    talk_seconds: float = 0.0
    action: str | None = None


@dataclass
class Recording:
    sid: str
    call_sid: str
    audio: bytes
    duration: int
    deleted: bool = False
    media_fetches: int = 0
    mp3: bytes = b""
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = "RecordVerb"


@dataclass
class Call:
    sid: str
    account_sid: str
    direction: str  # inbound | outbound-api | outbound-dial
    from_: str
    to: str
    status: str = "queued"
    duration: float = 0.0
    heard: list[Heard] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)
    dials: list[DialAttempt] = field(default_factory=list)
    errors: list[CallError] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    parent_call_sid: str | None = None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None
    end_time: datetime | None = None
    # outbound-api calls: what Calls.json was given
    url: str | None = None
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    timeout: int = DEFAULT_API_CALL_TIMEOUT
    _headers: list[dict[str, str]] = field(default_factory=list, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float = 10.0) -> Call:
        """Block until the call has ended (a safety limit, not a timing assertion)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"call {self.sid} did not end within {timeout} s")
        return self

    def params_of(self, url_part: str) -> list[dict[str, str]]:
        """The parameters of every webhook POSTed to a URL containing ``url_part``."""
        return [w.params for w in self.webhooks if url_part in w.url]


# --- transports: how webhooks reach the hotline ----------------------------------------------------


class Transport(Protocol):
    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]: ...


class HttpTransport:
    """A real HTTP POST (form-encoded). Connection failures raise ``OSError`` (the call then sees
    Twilio's 11205 HTTP connection failure)."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        if urlsplit(url).scheme not in ("http", "https"):
            raise OSError(f"not an http(s) URL: {url!r}")
        request = urllib.request.Request(url, data=urlencode(params).encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")


class DjangoClientTransport:
    """Delivers webhooks through a ``django.test.Client``: path and query from the URL, ``HTTP_HOST``
    from its host, ``secure`` from its scheme, and every header (``X-Twilio-Signature`` among them) as
    ``HTTP_*``. Exceptions raised by views propagate, as the test client raises them."""

    def __init__(self, client: DjangoTestClient) -> None:
        self.client = client

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        extra: dict[str, Any] = {"HTTP_HOST": parts.netloc}
        for name, value in headers.items():
            if name.lower() != "content-type":
                extra["HTTP_" + name.upper().replace("-", "_")] = value
        response = self.client.post(
            path,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            secure=parts.scheme == "https",
            **extra,
        )
        body = getattr(response, "content", b"")
        return int(response.status_code), body.decode("utf-8", "replace")


# --- internals: leg state and control flow ----------------------------------------------------------


class _AppError(Exception):
    def __init__(self, code: int, message: str, url: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.url = url


class _LegOver(Exception):
    def __init__(self, reason: Literal["hangup", "party", "reject"], detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class _Next:
    url: str
    extra: dict[str, str]
    after: Callable[[], None] | None = None


@dataclass
class _Leg:
    call: Call  # this leg's own record
    root: Call  # the call whose heard/errors/dials/webhooks tell the story
    side: str  # "caller" | "callee"
    presses: list[str | None]
    speeches: list[Speech | None]
    first_request_ringing: bool
    press_index: int = 0
    speech_index: int = 0
    requests: int = 0
    documents: int = 0
    ended: bool = False  # the party hung up
    elapsed: float = 0.0
    verbs_run: int = 0

    @property
    def records(self) -> list[Call]:
        return [self.call] if self.call is self.root else [self.call, self.root]


def _new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(moment: datetime | None) -> str | None:
    return email.utils.format_datetime(moment) if moment is not None else None


def _whole_seconds(seconds: float) -> int:
    return max(0, math.ceil(seconds - 1e-9))


def _speech_seconds(text: str) -> float:
    return len(text) / SAY_CHARS_PER_SECOND


@lru_cache(maxsize=32)
def _silent_wav(seconds: int) -> bytes:
    """8 kHz 16-bit mono PCM, as Twilio's WAV recordings are."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 8000 * seconds)
    return buffer.getvalue()


@lru_cache(maxsize=32)
def _silent_mp3(seconds: int) -> bytes:
    """MPEG-1 Layer III frames, 32 kbit/s, 32 kHz mono, all-zero side information (silence)."""
    frame = b"\xff\xfb\x18\xc0" + b"\x00" * 140  # 144 bytes = 1152 samples = 36 ms
    return frame * max(1, math.ceil(seconds * 32000 / 1152))


def _int_attr(element: ET.Element, name: str, default: int, url: str | None) -> int:
    raw = element.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise _AppError(
            12200, f"Schema validation warning: <{element.tag} {name}={raw!r}> is not an integer", url
        ) from None


def _float_attr(element: ET.Element, name: str, default: float, url: str | None) -> float:
    raw = element.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw.strip())
    except ValueError:
        raise _AppError(
            12200, f"Schema validation warning: <{element.tag} {name}={raw!r}> is not a number", url
        ) from None


def _validate_presses(presses: Sequence[str | None]) -> list[str | None]:
    for press in presses:
        if press is not None and not set(press) <= DIGITS:
            raise ValueError(f"a press may hold only 0-9, * and #: {press!r}")
    return list(presses)


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")


def _valid_address(address: str) -> bool:
    return bool(_E164.fullmatch(address)) or address.startswith(("sip:", "client:"))


class _ApiResponse(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] | None = None


# --- the provider -----------------------------------------------------------------------------------


class VoiceProvider:
    """The emulated provider: one account, one number of the hotline's, a phone book, the calls."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        number: str,
        incoming_url: str,
        status_url: str | None,
        transport: Transport,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (account_sid.startswith("AC") and _SID_HEX.fullmatch(account_sid[2:].lower())):
            raise ValueError("account_sid must be 'AC' followed by 32 hex digits")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number = number
        self.incoming_url = incoming_url
        self.status_url = status_url
        self.transport = transport
        self.phones: dict[str, PhoneEntry] = {}
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        self.api_requests: list[tuple[str, str, int]] = []
        self.retry_webhooks = False
        self.calls_per_second: float | None = 1
        self.verified_caller_ids: set[str] = {number}
        self.withheld_caller_id = "anonymous"
        self.play_seconds = 5.0  # simulated length of any <Play>ed audio
        self.media_auth_required = True  # "HTTP basic authentication for media access" on
        self.background_errors: list[BaseException] = []
        self._validator = RequestValidator(auth_token)
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._pending: queue.Queue[str | None] = queue.Queue()
        self._created: collections.deque[float] = collections.deque()
        self._failures: list[tuple[str, re.Pattern[str], int]] = []
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._background: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start_api(self) -> str:
        """Serve the REST API on 127.0.0.1 (a free port) from a daemon thread; returns ``api_base``."""
        if self._server is None:
            handler = type("_BoundHandler", (_ApiHandler,), {"provider": self})
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            self._server.daemon_threads = True
            self._server_thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # how soon stop() returns
                name="voice-emulator-api",
                daemon=True,
            )
            self._server_thread.start()
        return self.api_base

    @property
    def api_base(self) -> str:
        if self._server is None:
            return UNSTARTED_API_BASE
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> None:
        """Run each outbound call created through the REST API as it arrives, in a daemon thread."""
        with self._lock:
            if self._background is None:
                self._background = threading.Thread(
                    target=self._background_loop, name="voice-emulator-calls", daemon=True
                )
                self._background.start()

    def stop(self) -> None:
        if self._background is not None:
            self._pending.put(None)
            self._background.join(timeout=30)
            self._background = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(timeout=30)
            self._server = None
            self._server_thread = None

    def __enter__(self) -> VoiceProvider:
        self.start_api()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- knobs for tests ----------------------------------------------------------------------------

    def fail_next(self, method: str, path_regex: str, status: int) -> None:
        """The next REST request with that method whose path matches (``re.search``) fails with that
        status and Twilio's JSON error (code 20000 + status, e.g. 20500, 20503, 20429)."""
        with self._lock:
            self._failures.append((method.upper(), re.compile(path_regex), status))

    def recording_url(self, recording_sid: str) -> str:
        return f"{self.api_base}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    # --- inbound calls ------------------------------------------------------------------------------

    def place_call(
        self,
        from_number: str | None = None,
        presses: Sequence[str | None] | None = None,
        speech: Speech | Sequence[Speech | None] | None = None,
        *,
        to: str | None = None,
    ) -> Call:
        """A call to the hotline's number, run to its end in this thread. ``presses``: what the caller
        keys in at each Gather, in order (``None``: lets it time out; run out: hangs up). ``speech``:
        what the caller says at the Record (or a list, one per Record; ``None``: silence)."""
        caller = self.withheld_caller_id if from_number in (None, "anonymous") else str(from_number)
        speeches: list[Speech | None] = [speech] if speech is None or isinstance(speech, Speech) else list(speech)
        call = Call(
            sid=_new_sid("CA"),
            account_sid=self.account_sid,
            direction="inbound",
            from_=caller,
            to=to or self.number,
            status="ringing",
        )
        self._register(call)
        leg = _Leg(
            call=call,
            root=call,
            side="caller",
            presses=_validate_presses(presses or []),
            speeches=speeches,
            first_request_ringing=True,
        )
        call.start_time = datetime.now(UTC)
        self._run_leg(leg, self.incoming_url, None)
        self._finish(call, leg, self.status_url)
        return call

    # --- outbound calls -----------------------------------------------------------------------------

    def run_pending(self) -> list[Call]:
        """Run every outbound call created through the REST API and not yet run, in this thread."""
        ran: list[Call] = []
        while True:
            try:
                sid = self._pending.get_nowait()
            except queue.Empty:
                return ran
            if sid is None:  # a stop() sentinel meant for the background thread
                self._pending.put(None)
                return ran
            ran.append(self._run_outbound(self.calls[sid]))

    def wait_for_call(self, sid: str, timeout: float = 10.0) -> Call:
        return self.calls[sid].wait(timeout)

    def wait_for_calls(
        self, count: int, direction: str = "outbound-api", *, finished: bool = True, timeout: float = 10.0
    ) -> list[Call]:
        """Block until ``count`` calls of that direction exist (and have ended); a safety limit, no polling."""

        def ready() -> list[Call] | None:
            found = [c for c in self.calls.values() if c.direction == direction and (c.finished or not finished)]
            return found if len(found) >= count else None

        with self._changed:
            result = self._changed.wait_for(ready, timeout)
        if result is None:
            raise TimeoutError(f"fewer than {count} {direction} calls within {timeout} s")
        return result

    def _background_loop(self) -> None:
        while True:
            sid = self._pending.get()
            if sid is None:
                return
            try:
                self._run_outbound(self.calls[sid])
            except Exception as exc:  # keep serving; tests read background_errors
                logger.exception("voice emulator: outbound call failed")
                self.background_errors.append(exc)
                with self._changed:
                    self.calls[sid]._done.set()
                    self._changed.notify_all()

    def _run_outbound(self, call: Call) -> Call:
        if call.status != "queued":  # canceled through the API meanwhile
            call._done.set()
            return call
        entry = self.phones.get(call.to, NoAnswer())
        self._progress(call, "initiated")
        leg = _Leg(call=call, root=call, side="caller", presses=[], speeches=[], first_request_ringing=False)
        if isinstance(entry, Failed):
            call.status = "failed"
        elif isinstance(entry, Busy):
            call.status = "busy"
        else:
            call.status = "ringing"
            self._progress(call, "ringing")
            if isinstance(entry, NoAnswer) or entry.ring_seconds >= call.timeout:
                call.status = "no-answer"
            else:
                call.status = "in-progress"
                call.start_time = datetime.now(UTC)
                self._progress(call, "answered")
                leg.presses = _validate_presses(entry.presses)
                self._run_leg(leg, call.url or "", call.twiml)
        self._finish(call, leg, call.status_callback)
        return call

    def _progress(self, call: Call, event: str) -> None:
        if call.status_callback and event in call.status_callback_events:
            status = {"answered": "in-progress"}.get(event, event)
            self._status_callback(call, call.status_callback, status, None)

    # --- running TwiML ------------------------------------------------------------------------------

    def _register(self, call: Call) -> None:
        with self._changed:
            self.calls[call.sid] = call
            self._changed.notify_all()

    def _finish(self, call: Call, leg: _Leg, status_callback: str | None) -> None:
        call.duration = leg.elapsed
        if call.status in ("ringing", "in-progress", "queued"):
            call.status = "completed"
        if call.start_time is not None:
            call.end_time = call.start_time + timedelta(seconds=call.duration)
        if status_callback:
            self._status_callback(call, status_callback, call.status, call.duration)
        with self._changed:
            call._done.set()
            self._changed.notify_all()

    def _status_callback(self, call: Call, url: str, status: str, duration: float | None) -> None:
        params = self._base_params(call, status)
        params.update(
            {
                "CallbackSource": "call-progress-events",
                "Timestamp": _rfc2822(datetime.now(UTC)) or "",
                "SequenceNumber": str(sum(1 for w in call.webhooks if w.url == url)),
            }
        )
        if duration is not None:
            params["CallDuration"] = str(_whole_seconds(duration) if status == "completed" else 0)
        code, _ = self._post([call], url, params)
        if not 200 <= code < 300:
            call.errors.append(
                CallError(11200, f"HTTP retrieval failure: status callback answered {code}", url, "warning")
            )

    def _base_params(self, call: Call, status: str) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "CallSid": call.sid,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
            "CallStatus": status,
            "Direction": call.direction,
            "ApiVersion": API_VERSION,
        }
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        return params

    def _leg_params(self, leg: _Leg, extra: dict[str, str]) -> dict[str, str]:
        if leg.ended:
            status = "completed"
        elif leg.requests == 0 and leg.first_request_ringing:
            status = "ringing"
        else:
            status = "in-progress"
        params = self._base_params(leg.call, status)
        params.update(extra)
        return params

    def _post(self, records: list[Call], url: str, params: dict[str, str]) -> tuple[int, str]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": self._validator.compute_signature(url, params),
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        status, body = 0, ""
        for _attempt in range(2 if self.retry_webhooks else 1):
            status, body = self._deliver(url, params, headers)
            for record in records:
                record.webhooks.append(Webhook(url, dict(params), status, body))
                record._headers.append(dict(headers))
        return status, body

    def _deliver(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        try:
            return self.transport.post(url, dict(params), dict(headers))
        except OSError as exc:
            return 0, f"connection failure: {exc}"

    def redeliver(self, call_sid: str, index: int) -> tuple[int, str]:
        """POST the ``index``-th webhook of that call again, byte for byte (same params, signature and
        idempotency token), as a provider retry does; the attempt is appended to ``call.webhooks``."""
        call = self.calls[call_sid]
        hook, headers = call.webhooks[index], call._headers[index]
        status, body = self._deliver(hook.url, hook.params, headers)
        call.webhooks.append(Webhook(hook.url, dict(hook.params), status, body))
        call._headers.append(dict(headers))
        return status, body

    def _run_leg(
        self, leg: _Leg, url: str, inline_twiml: str | None
    ) -> Literal["end", "hangup", "party", "reject", "error"]:
        """Run a leg's TwiML to its end; returns how it ended."""
        try:
            if inline_twiml is not None:
                document = self._parse(inline_twiml, None)
                following = self._execute(leg, document, url)
                if following is not None:
                    self._drive(leg, following)
            else:
                self._drive(leg, _Next(url, {}))
        except _LegOver as over:
            if over.reason == "reject":
                leg.call.status = "busy" if over.detail == "busy" else "no-answer"
            return over.reason
        except _AppError as error:
            leg.root.errors.append(CallError(error.code, error.message, error.url))
            if leg.call is not leg.root:
                leg.call.errors.append(CallError(error.code, error.message, error.url))
            if not leg.ended:
                self._hear(leg, Heard("say", APPLICATION_ERROR_TEXT, "en-US", leg.side))
                leg.elapsed += _speech_seconds(APPLICATION_ERROR_TEXT)
            return "error"
        return "end"

    def _drive(self, leg: _Leg, start: _Next) -> None:
        following: _Next | None = start
        while following is not None:
            leg.documents += 1
            if leg.documents > MAX_DOCUMENTS_PER_LEG:
                raise _AppError(
                    12400, f"emulator: more than {MAX_DOCUMENTS_PER_LEG} TwiML documents on one leg", following.url
                )
            if leg.ended:  # the party hung up: the request is made, its answer ignored
                self._post(leg.records, following.url, self._leg_params(leg, following.extra))
                leg.requests += 1
                if following.after is not None:
                    following.after()
                raise _LegOver("party")
            try:
                document = self._fetch(leg, following.url, following.extra)
            finally:
                if following.after is not None:
                    following.after()
            following = self._execute(leg, document, following.url)

    def _fetch(self, leg: _Leg, url: str, extra: dict[str, str]) -> ET.Element:
        if not _valid_url(url):
            raise _AppError(11100, f"Invalid URL format: {url!r}", url)
        status, body = self._post(leg.records, url, self._leg_params(leg, extra))
        leg.requests += 1
        if leg.call.status == "ringing":
            leg.call.status = "in-progress"
        if status == 0:
            raise _AppError(11205, f"HTTP connection failure: {body}", url)
        if not 200 <= status < 300:
            raise _AppError(11200, f"HTTP retrieval failure: the answer was {status}", url)
        return self._parse(body, url)

    def _parse(self, body: str, url: str | None) -> ET.Element:
        if len(body.encode("utf-8")) > MAX_TWIML_BYTES:
            raise _AppError(11750, "TwiML response body too large (over 64 kB)", url)
        try:
            document = ET.fromstring(body.strip())  # noqa: S314 - TwiML from the application under test
        except ET.ParseError as exc:
            raise _AppError(12100, f"Document parse failure: {exc}", url) from None
        if document.tag != "Response":
            raise _AppError(12100, f"Document parse failure: the root element is <{document.tag}>, not <Response>", url)
        self._validate(document, url)
        return document

    def _validate(self, document: ET.Element, url: str | None) -> None:
        for verb in document:
            if verb.tag in _KNOWN_UNSUPPORTED:
                raise _AppError(12200, f"emulator: <{verb.tag}> is not supported", url)
            if verb.tag not in _TOP_VERBS:
                raise _AppError(12200, f"Schema validation warning: <{verb.tag}> is not a TwiML verb", url)
            allowed: frozenset[str] = frozenset()
            if verb.tag == "Gather":
                allowed = _GATHER_CHILDREN
            elif verb.tag == "Dial":
                allowed = _DIAL_NOUNS
            elif verb.tag == "Say":
                continue  # SSML children
            for child in verb:
                if child.tag not in allowed:
                    raise _AppError(12200, f"Schema validation warning: <{child.tag}> inside <{verb.tag}>", url)

    def _execute(self, leg: _Leg, document: ET.Element, url: str) -> _Next | None:
        for verb in document:
            if leg.side == "callee" and verb.tag not in _CALLEE_VERBS:
                raise _AppError(12200, f"<{verb.tag}> cannot run on a dialed party's leg", url)
            leg.verbs_run += 1
            following = self._verb(leg, verb, url)
            if following is not None:
                return following
        return None

    def _verb(self, leg: _Leg, verb: ET.Element, url: str) -> _Next | None:
        tag = verb.tag
        if tag == "Say":
            self._say(leg, verb, url, None)
        elif tag == "Play":
            self._play(leg, verb, url, None)
        elif tag == "Pause":
            leg.elapsed += max(0, _int_attr(verb, "length", 1, url))
        elif tag == "Hangup":
            raise _LegOver("hangup")
        elif tag == "Reject":
            raise _LegOver("reject", verb.get("reason", "rejected"))
        elif tag == "Redirect":
            target = (verb.text or "").strip()
            if not target:
                raise _AppError(12200, "Schema validation warning: <Redirect> without a URL", url)
            return _Next(urljoin(url, target), {})
        elif tag == "Gather":
            return self._gather(leg, verb, url)
        elif tag == "Record":
            return self._record(leg, verb, url)
        elif tag == "Dial":
            return self._dial(leg, verb, url)
        return None

    def _hear(self, leg: _Leg, heard: Heard) -> None:
        for record in leg.records:
            record.heard.append(heard)

    def _say(self, leg: _Leg, verb: ET.Element, url: str, times: int | None) -> None:
        text = "".join(verb.itertext()).strip()
        if not text:
            leg.root.errors.append(CallError(13520, "Say: Invalid text (empty)", url, "warning"))
            return
        if len(text) > MAX_SAY_CHARS:
            leg.root.errors.append(
                CallError(
                    13521, f"<Say> element character limits exceeded ({len(text)} > {MAX_SAY_CHARS})", url, "warning"
                )
            )
            return
        loop = _int_attr(verb, "loop", 1, url)
        count = times if times is not None else (LOOP_FOREVER if loop <= 0 else loop)
        for _ in range(count):
            self._hear(leg, Heard("say", text, verb.get("language", "en-US"), leg.side))
            leg.elapsed += _speech_seconds(text)

    def _play(self, leg: _Leg, verb: ET.Element, url: str, times: int | None) -> None:
        media = (verb.text or "").strip()
        if not media:
            if verb.get("digits"):
                leg.elapsed += KEY_SECONDS * len(verb.get("digits", ""))
            return
        loop = _int_attr(verb, "loop", 1, url)
        count = times if times is not None else (LOOP_FOREVER if loop <= 0 else loop)
        for _ in range(count):
            self._hear(leg, Heard("play", urljoin(url, media), None, leg.side))
            leg.elapsed += self.play_seconds

    def _gather(self, leg: _Leg, verb: ET.Element, url: str) -> _Next | None:
        action = urljoin(url, verb.get("action") or url)
        timeout = max(1, _int_attr(verb, "timeout", 5, url))
        finish_keys = verb.get("finishOnKey", "#")
        num_digits = _int_attr(verb, "numDigits", 0, url)
        wants_dtmf = "dtmf" in verb.get("input", "dtmf").split()
        empty_action = verb.get("actionOnEmptyResult", "false").lower() == "true"
        exhausted = leg.press_index >= len(leg.presses)
        press = None if exhausted else leg.presses[leg.press_index]
        for child in verb:  # a caller with a key ready hears an endless prompt once, then keys in
            once = 1 if press else None
            if child.tag == "Say":
                self._say(leg, child, url, once if _int_attr(child, "loop", 1, url) <= 0 else None)
            elif child.tag == "Play":
                self._play(leg, child, url, once if _int_attr(child, "loop", 1, url) <= 0 else None)
            elif child.tag == "Pause":
                leg.elapsed += max(0, _int_attr(child, "length", 1, url))
        if exhausted:
            leg.ended = True
            raise _LegOver("party")
        leg.press_index += 1
        digits, finished_on, complete = "", "", False
        for key in (press or "") if wants_dtmf else "":
            leg.elapsed += KEY_SECONDS
            if key in finish_keys:
                finished_on, complete = key, True
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                complete = True
                break
        if not complete:
            leg.elapsed += timeout
        if not digits and not empty_action:
            return None  # no input: Twilio goes on with the next verb
        return _Next(action, {"Digits": digits, "FinishedOnKey": finished_on})

    def _record(self, leg: _Leg, verb: ET.Element, url: str) -> _Next | None:
        action = urljoin(url, verb.get("action") or url)
        timeout = max(1, _int_attr(verb, "timeout", 5, url))
        finish_keys = verb.get("finishOnKey", "1234567890*#")
        max_length = _int_attr(verb, "maxLength", 3600, url)
        if max_length <= 0:
            max_length = 3600
        callback = verb.get("recordingStatusCallback")
        callback = urljoin(url, callback) if callback else None
        events = verb.get("recordingStatusCallbackEvent", "completed").replace(",", " ").split()
        if verb.get("playBeep", "true").lower() != "false":
            leg.elapsed += 0.5
        speech = leg.speeches[leg.speech_index] if leg.speech_index < len(leg.speeches) else None
        leg.speech_index += 1
        if speech is None or speech.seconds <= 0:
            leg.elapsed += timeout
            if callback and "absent" in events:
                sid = _new_sid("RE")
                self._recording_callback(leg, callback, sid, "absent", 0)
            return None  # an empty recording: no action request, the next verb runs
        seconds = min(speech.seconds, float(max_length))
        leg.elapsed += seconds
        digits: str | None = None
        if speech.seconds > max_length:
            pass  # cut off by maxLength
        elif speech.end == "hangup":
            digits = "hangup"
            leg.ended = True
        elif len(speech.end) == 1 and speech.end in finish_keys:
            digits = speech.end
            leg.elapsed += KEY_SECONDS
        else:
            leg.elapsed += timeout  # silence (or a key that does not finish) until the timeout
        whole = max(1, round(seconds))
        recording = Recording(
            sid=_new_sid("RE"),
            call_sid=leg.call.sid,
            audio=speech.audio if speech.audio is not None else _silent_wav(whole),
            duration=whole,
            mp3=speech.mp3 if speech.mp3 is not None else _silent_mp3(whole),
        )
        with self._lock:
            self.recordings[recording.sid] = recording
        leg.call.recordings.append(recording.sid)
        if callback and "in-progress" in events:
            self._recording_callback(leg, callback, recording.sid, "in-progress", 0)
        extra = {
            "RecordingUrl": self.recording_url(recording.sid),
            "RecordingSid": recording.sid,
            "RecordingDuration": str(whole),
        }
        if digits is not None:
            extra["Digits"] = digits

        def after() -> None:
            if callback and "completed" in events:
                self._recording_callback(leg, callback, recording.sid, "completed", whole)

        return _Next(action, extra, after)

    def _recording_callback(self, leg: _Leg, url: str, sid: str, status: str, duration: int) -> None:
        params = {
            "AccountSid": self.account_sid,
            "CallSid": leg.call.sid,
            "RecordingSid": sid,
            "RecordingUrl": self.recording_url(sid),
            "RecordingStatus": status,
            "RecordingDuration": str(duration),
            "RecordingChannels": "1",
            "RecordingStartTime": _rfc2822(datetime.now(UTC)) or "",
            "RecordingSource": "RecordVerb",
            "ErrorCode": "0",
        }
        code, _ = self._post(leg.records, url, params)
        if not 200 <= code < 300:
            leg.root.errors.append(
                CallError(11200, f"HTTP retrieval failure: recording status callback answered {code}", url, "warning")
            )

    def _dial(self, leg: _Leg, verb: ET.Element, url: str) -> _Next | None:
        action = verb.get("action")
        action = urljoin(url, action) if action else None
        timeout = min(600, max(5, _int_attr(verb, "timeout", 30, url)))
        time_limit = _float_attr(verb, "timeLimit", 14400, url)
        explicit_caller_id = verb.get("callerId")
        caller_id = explicit_caller_id or leg.call.from_
        targets: list[tuple[str, ET.Element | None]] = []
        if len(verb) == 0 and (verb.text or "").strip():
            targets.append(((verb.text or "").strip(), None))
        for noun in verb:
            address = (noun.text or "").strip()
            if noun.tag == "Client" and not address.startswith("client:"):
                address = "client:" + address
            targets.append((address, noun))
        attempt = DialAttempt(
            addresses=[a for a, _ in targets],
            caller_id=caller_id,
            timeout=timeout,
            outcome="failed",
            answered_by=None,
            dial_call_sid="",
            legs=[],
            action=action,
        )
        leg.root.dials.append(attempt)
        if not targets or not all(targets[i][0] for i in range(len(targets))):
            leg.root.errors.append(
                CallError(13201, "Dial: Cannot Dial out without a number or other noun", url, "warning")
            )
        elif (
            explicit_caller_id
            and explicit_caller_id not in self.verified_caller_ids
            and explicit_caller_id != leg.call.from_
            and any(n is None or n.tag == "Number" for _, n in targets)
        ):
            leg.root.errors.append(
                CallError(13214, f"Dial: Invalid callerId value {explicit_caller_id!r}", url, "warning")
            )
        else:
            self._ring(leg, attempt, targets, time_limit, url)
        extra = {
            "DialCallStatus": attempt.outcome,
            "DialCallSid": attempt.dial_call_sid,
            "DialBridged": "true" if attempt.answered_by else "false",
        }
        if attempt.answered_by:
            extra["DialCallDuration"] = str(_whole_seconds(self.calls[attempt.dial_call_sid].duration))
        if action:
            return _Next(action, extra)
        if leg.ended:
            raise _LegOver("party")
        return None

    def _ring(
        self, leg: _Leg, attempt: DialAttempt, targets: list[tuple[str, ET.Element | None]], time_limit: float, url: str
    ) -> None:
        """Ring all targets at once; the first in document order that answers (and accepts its
        whisper) is bridged, the others are canceled."""
        children: list[tuple[Call, PhoneEntry, ET.Element | None]] = []
        for address, noun in targets:
            child = Call(
                sid=_new_sid("CA"),
                account_sid=self.account_sid,
                direction="outbound-dial",
                from_=attempt.caller_id,
                to=address,
                status="ringing",
                parent_call_sid=leg.call.sid,
            )
            self._register(child)
            children.append((child, self.phones.get(address, NoAnswer()), noun))
            attempt.legs.append(DialLeg(address, child.sid, "no-answer"))
        attempt.dial_call_sid = children[0][0].sid
        winner: tuple[Call, Answer, float] | None = None
        waited = 0.0
        for index, (child, entry, noun) in enumerate(children):
            outcome = "no-answer"
            if isinstance(entry, Busy):
                outcome = "busy"
                waited = max(waited, 1.0)
            elif isinstance(entry, Failed):
                outcome = "failed"
                waited = max(waited, 1.0)
            elif isinstance(entry, NoAnswer) or entry.ring_seconds >= attempt.timeout:
                waited = max(waited, float(attempt.timeout))
            elif winner is not None:
                outcome = "canceled"
            else:
                child.status = "in-progress"
                child.start_time = datetime.now(UTC)
                whisper = noun.get("url") if noun is not None else None
                accepted, whisper_seconds = True, 0.0
                if whisper:
                    callee = _Leg(
                        call=child,
                        root=leg.root,
                        side="callee",
                        presses=_validate_presses(entry.presses),
                        speeches=[],
                        first_request_ringing=False,
                    )
                    accepted = self._run_leg(callee, urljoin(url, whisper), None) == "end"
                    whisper_seconds = callee.elapsed
                if accepted:
                    outcome = "completed"
                    talk = min(entry.talk_seconds, time_limit)
                    child.duration = whisper_seconds + talk
                    winner = (child, entry, entry.ring_seconds + whisper_seconds + talk)
                    attempt.answered_by = child.to
                    attempt.dial_call_sid = child.sid
                    attempt.talk_seconds = talk
                else:
                    outcome = "declined"
                    child.duration = whisper_seconds
                    waited = max(waited, entry.ring_seconds + whisper_seconds)
            attempt.legs[index].outcome = outcome
            child.status = "completed" if outcome == "declined" else outcome
            if child.start_time is not None:
                child.end_time = child.start_time + timedelta(seconds=child.duration)
            self._dial_status_callback(leg, child, noun, url)
            child._done.set()
        for index, (child, _entry, _noun) in enumerate(children):  # ringing when the winner picked up
            if winner is not None and attempt.legs[index].outcome == "no-answer":
                attempt.legs[index].outcome = child.status = "canceled"
        if winner is not None:
            attempt.outcome = "completed"
            leg.elapsed += winner[2]
            if winner[1].hangs_up == "caller":
                leg.ended = True
            return
        leg.elapsed += waited
        outcomes = {dl.outcome for dl in attempt.legs}
        if outcomes & {"no-answer", "declined"}:
            attempt.outcome = "no-answer"
        elif "busy" in outcomes:
            attempt.outcome = "busy"
        else:
            attempt.outcome = "failed"

    def _dial_status_callback(self, leg: _Leg, child: Call, noun: ET.Element | None, doc_url: str) -> None:
        if noun is None or not noun.get("statusCallback"):
            return
        url = urljoin(doc_url, noun.get("statusCallback", ""))
        params = self._base_params(child, child.status)
        params["CallDuration"] = str(_whole_seconds(child.duration))
        self._post([child, leg.root], url, params)

    # --- the REST API -------------------------------------------------------------------------------

    def handle_api(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _ApiResponse:
        path = urlsplit(raw_path).path
        response = self._api(method.upper(), path, headers, body)
        with self._lock:
            self.api_requests.append((method.upper(), path, response.status))
        return response

    def _error(self, status: int, code: int, message: str, **extra: Any) -> _ApiResponse:
        payload: dict[str, Any] = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        payload.update(extra)
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else {}
        return _ApiResponse(status, json.dumps(payload).encode(), headers=headers)

    def _json(self, status: int, payload: dict[str, Any]) -> _ApiResponse:
        return _ApiResponse(status, json.dumps(payload).encode())

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(password, self.auth_token)

    def _api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _ApiResponse:
        route, match = next(((name, m) for name, pattern in _ROUTES if (m := pattern.fullmatch(path))), (None, None))
        needs_auth = route != "media" or self.media_auth_required
        if needs_auth and not self._authorized(headers):
            return self._error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
        with self._lock:
            failure = next((f for f in self._failures if f[0] == method and f[1].search(path)), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            status = failure[2]
            return self._error(status, 20000 + status, _ERROR_MESSAGES.get(status, "Error"))
        if route is None or match is None or match["account"] != self.account_sid:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        form = {k: v for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)}
        events = [v for k, v in parse_qsl(body.decode("utf-8", "replace")) if k == "StatusCallbackEvent"]
        allowed = {
            "calls": ("GET", "POST"),
            "call": ("GET", "POST"),
            "recordings": ("GET",),
            "recording": ("GET", "DELETE"),
            "media": ("GET",),
        }[route]
        if method not in allowed:
            return self._error(405, 20004, "Method not allowed")
        if route == "calls":
            return self._create_call(form, events) if method == "POST" else self._list_calls()
        if route == "call":
            return self._call_resource(match["sid"], method, form)
        if route == "recordings":
            return self._json(
                200,
                {
                    "recordings": [self._recording_json(r) for r in self.recordings.values() if not r.deleted],
                    "uri": path,
                    "page": 0,
                    "page_size": 50,
                    "next_page_uri": None,
                },
            )
        recording = self.recordings.get(match["sid"])
        if recording is None or recording.deleted:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        if route == "recording":
            if method == "DELETE":
                recording.deleted = True
                recording.audio = b""
                recording.mp3 = b""
                return _ApiResponse(204, b"", content_type="")
            return self._json(200, self._recording_json(recording))
        recording.media_fetches += 1
        if match["ext"] == ".mp3":
            return _ApiResponse(200, recording.mp3, content_type="audio/mpeg")
        return _ApiResponse(200, recording.audio, content_type="audio/x-wav")

    def _create_call(self, form: dict[str, str], events: list[str]) -> _ApiResponse:
        to, from_, url, twiml = form.get("To", ""), form.get("From", ""), form.get("Url", ""), form.get("Twiml")
        status_callback = form.get("StatusCallback") or None
        if not to:
            return self._error(400, 21201, "No 'To' number is specified")
        if not from_:
            return self._error(400, 21213, "No 'From' number is specified")
        if not _valid_address(to):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ not in self.verified_caller_ids:
            return self._error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account. "
                "You may only make calls from phone numbers that you've verified or purchased from Twilio.",
            )
        if twiml is not None:
            if len(twiml) > MAX_INLINE_TWIML_CHARS:
                return self._error(
                    400, 32018, f"Twiml size exceeded maximum allowed value of {MAX_INLINE_TWIML_CHARS} characters"
                )
        elif not url:
            return self._error(400, 21205, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required")
        elif not _valid_url(url):
            return self._error(400, 21205, f"Url is not a valid URL: {url}")
        if status_callback is not None and not _valid_url(status_callback):
            return self._error(400, 21609, f"The StatusCallback URL {status_callback} is not a valid URL.")
        for name in ("Method", "StatusCallbackMethod"):
            if form.get(name, "POST").upper() not in ("GET", "POST"):
                return self._error(400, 21207, f"{name} must be GET or POST")
        try:
            timeout = int(form.get("Timeout") or DEFAULT_API_CALL_TIMEOUT)
        except ValueError:
            return self._error(400, 21216, "Timeout must be an integer")
        with self._lock:
            if self.calls_per_second is not None:
                now = self._monotonic()
                while self._created and now - self._created[0] >= 1.0:
                    self._created.popleft()
                if len(self._created) >= self.calls_per_second:
                    return self._error(429, 20429, "Too Many Requests")
                self._created.append(now)
            call = Call(
                sid=_new_sid("CA"),
                account_sid=self.account_sid,
                direction="outbound-api",
                from_=from_,
                to=to,
                url=url or None,
                twiml=twiml,
                status_callback=status_callback,
                status_callback_events=tuple(" ".join(events).split()) or ("completed",),
                timeout=min(600, max(1, timeout)),
            )
            self._register(call)
        self._pending.put(call.sid)
        return self._json(201, self._call_json(call))

    def _list_calls(self) -> _ApiResponse:
        with self._lock:
            calls = [self._call_json(c) for c in list(self.calls.values())]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls.json"
        return self._json(200, {"calls": calls, "uri": uri, "page": 0, "page_size": 50, "next_page_uri": None})

    def _call_resource(self, sid: str, method: str, form: dict[str, str]) -> _ApiResponse:
        call = self.calls.get(sid)
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json"
        if call is None:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        if method == "POST":
            wanted = form.get("Status")
            if call.finished or call.status not in ("queued", "ringing"):
                return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
            if wanted in ("canceled", "completed"):
                call.status = "canceled"
            if form.get("Url"):
                call.url = form["Url"]
            if form.get("Twiml"):
                call.twiml = form["Twiml"]
        return self._json(200, self._call_json(call))

    def _call_json(self, call: Call) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}.json"
        base = uri[: -len(".json")]
        finished = call.finished
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": call.parent_call_sid,
            "date_created": _rfc2822(call.date_created),
            "date_updated": _rfc2822(call.end_time or call.date_created),
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from_,
            "from_formatted": call.from_,
            "phone_number_sid": None,
            "status": call.status,
            "start_time": _rfc2822(call.start_time),
            "end_time": _rfc2822(call.end_time),
            "duration": str(_whole_seconds(call.duration)) if finished and call.status == "completed" else None,
            "price": None,
            "price_unit": "USD",
            "direction": call.direction,
            "answered_by": None,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri,
            "subresource_uris": {
                "notifications": base + "/Notifications.json",
                "recordings": base + "/Recordings.json",
                "payments": base + "/Payments.json",
                "events": base + "/Events.json",
                "siprec": base + "/Siprec.json",
                "streams": base + "/Streams.json",
                "transcriptions": base + "/Transcriptions.json",
                "user_defined_message_subscriptions": base + "/UserDefinedMessageSubscriptions.json",
                "user_defined_messages": base + "/UserDefinedMessages.json",
            },
        }

    def _recording_json(self, recording: Recording) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": _rfc2822(recording.date_created),
            "date_updated": _rfc2822(recording.date_created),
            "start_time": _rfc2822(recording.date_created),
            "duration": str(recording.duration),
            "sid": recording.sid,
            "price": None,
            "price_unit": "USD",
            "status": "completed",
            "channels": 1,
            "source": recording.source,
            "error_code": None,
            "uri": uri,
            "encryption_details": None,
            "subresource_uris": {
                "add_on_results": uri[: -len(".json")] + "/AddOnResults.json",
                "transcriptions": uri[: -len(".json")] + "/Transcriptions.json",
            },
            "media_url": self.recording_url(recording.sid),
        }

    def iter_webhooks(self) -> Iterator[tuple[str, Webhook]]:
        """Every webhook of every call, as (call sid, webhook)."""
        for sid, call in list(self.calls.items()):
            for hook in call.webhooks:
                yield sid, hook


class _ApiHandler(BaseHTTPRequestHandler):
    provider: VoiceProvider
    server_version = "voice-emulator"
    sys_version = ""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.provider.handle_api(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Twilio-Request-Id", _new_sid("RQ"))
        for name, value in (response.headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve
    do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: paths carry SIDs, nothing more
        logger.debug("voice emulator API: " + format, *args)
