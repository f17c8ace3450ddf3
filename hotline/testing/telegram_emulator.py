"""A local Telegram Bot API emulator, so tests and demos never reach the internet.

It speaks the subset of the Bot API that a bot uses (getMe, getUpdates, webhooks, sendMessage, sendPhoto,
copyMessage, edits of text, caption and buttons, deletions, callback answers, files, chat actions,
commands, getChat), with Telegram's answers, error texts and limits (about 30 messages/s per bot as a
rolling window, about 1/s per private chat, 20/min per channel: 429 with ``retry_after``), and simulates
users and what their phones show, and channels the bot posts to (``add_channel``/``channel_messages``).
For broadcast benchmarks: ``add_users(10_000)``, ``block_users(...)``, ``latency=(0.05, 0.10)`` (calls
are answered concurrently, one thread per connection, keep-alive, TCP_NODELAY), ``sent_counts()`` and
``stats()``.  Standard library only::

    with TelegramEmulator(token="123:ABC") as tg:
        bot = Bot("123:ABC", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        tg.add_user(1001, "Ana")
        tg.send_command(1001, "start")
        ...
        tg.wait_for_bot_messages(1001, count=1)

Run standalone (for demos) with ``python -m hotline.testing.telegram_emulator --port 8081``; a small
JSON control API under ``/_emulator/`` then lets a person play the user (see ``CONTROL_ACTIONS``), and
``GET /phone`` serves a simulated phone (HTML, JS and CSS from ``phone/`` beside this file, strict CSP) that
plays one user through that API in a browser, without a Telegram account. With a ``phone_line`` attached
(``hotline serve --demo`` attaches the voice provider emulator), its Call view places calls to the hotline
through ``POST /phone/call``.

Nothing here logs message texts or user ids at INFO level.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import json
import logging
import random
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from hotline.testing.telegram_emulator_state import (
    COMMAND_RE,
    JSON,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    ApiCallRecord,
    ApiError,
    CallbackRecord,
    ChannelPost,
    EmulatorCore,
    EmulatorUsageError,
    FakeClock,
    RateLimits,
    SimChannel,
    SimUser,
    VisibleMessage,
    button_texts,
    parse_request_params,
)

__all__ = [
    "ApiCallRecord",
    "ApiError",
    "ChannelPost",
    "EmulatorUsageError",
    "FakeClock",
    "Fault",
    "RateLimits",
    "SimChannel",
    "SimUser",
    "TelegramEmulator",
    "VisibleMessage",
    "WebhookAttempt",
    "main",
]

logger = logging.getLogger("hotline.testing.telegram_emulator")

FaultKind = Literal["error", "hang", "slow"]
CONTROL_ACTIONS = frozenset(  # harness methods reachable over HTTP for standalone demos
    """add_user send_text send_command press_button send_location send_contact block_bot unblock_bot
    advance_time chat pending_updates send_photo user callback_answer reply_keyboard set_latency stats open_link
    add_users block_users add_channel set_channel_rights channel_messages sent_counts reset_counters""".split()  # noqa: SIM905
)
FLOAT_CONTROL_ARGS = ("seconds", "low", "high")
BOOL_CONTROL_ARGS = ("bot_is_admin", "bot_is_member", "notify", "started")
BINARY_CONTROL_ARGS = {"send_photo": "data"}  # action -> argument sent as base64 text over HTTP
PHONE_DIR = Path(__file__).with_name("phone")
PHONE_ASSETS = {  # path -> (file in PHONE_DIR, Content-Type); served only with the control API on
    "/phone": ("phone.html", "text/html; charset=utf-8"),
    "/phone/": ("phone.html", "text/html; charset=utf-8"),
    "/phone.js": ("phone.js", "text/javascript; charset=utf-8"),
    "/phone.css": ("phone.css", "text/css; charset=utf-8"),
}
PHONE_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
FILE_KINDS = {  # kind -> (folder of file_path, extension, file_id prefix)
    "photo": ("photos", "jpg", "AgAC"),
    "voice": ("voice", "oga", "AwAC"),
    "video_note": ("video_notes", "mp4", "DQAC"),
    "document": ("documents", "bin", "BQAC"),
    "sticker": ("stickers", "webp", "CAAC"),
}
PHONE_CALL_PATH = "/phone/call"
_API_PATH = re.compile(r"/bot([^/]+)/([A-Za-z_]+)/?")
_FILE_PATH = re.compile(r"/file/bot([^/]+)/(.+)")
Headers = tuple[tuple[str, str], ...]
Answer = tuple[int, str, bytes] | tuple[int, str, bytes, Headers]  # status, Content-Type, body[, headers]


# Telegram's deep links to a bot, and what the app accepts as their start parameter
# (core.telegram.org/api/links#bot-links).
_DEEP_LINK = re.compile(r"https://t\.me/([A-Za-z][A-Za-z0-9_]{4,31})(?:\?start=([^&#]*))?")
_START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PhoneLine(Protocol):
    """What the simulated phone's keypad calls (``hotline.testing.voice_demo.VoiceDemo``)."""

    def info(self) -> JSON: ...

    def handle(self, request: JSON) -> JSON:
        """Place a call; ``ValueError`` for a bad request (400, with its text)."""
        ...


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` API calls (of ``method`` only, if given)."""

    kind: FaultKind
    remaining: int
    method: str | None = None
    status: int = 500
    seconds: float = 0.0


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of an update to the webhook: HTTP status (None if it failed to connect) or error."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_token: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Server(ThreadingHTTPServer):
    """One thread per connection; a deep listen backlog so a hundred clients connecting at once are
    all accepted; TCP_NODELAY on every accepted socket so no answer waits for Nagle's algorithm."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], emulator: TelegramEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.emulator._connection_accepted()
        return conn, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    server_version = "TelegramBotApiEmulator/1.0"
    timeout = 120
    wbufsize = 1 << 16  # status line, headers and body leave in one write when the request ends

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default access log would print the bot token that is part of every path."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        emulator = cast(_Server, self.server).emulator
        try:
            body = self._read_body()
            answer = emulator._handle_http(self.path, self.headers.get("Content-Type", ""), body, self.command)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            logger.exception("telegram emulator: request failed")
            answer = 500, "application/json", _json_bytes(ApiError(500, "Internal Server Error").to_json())
        if answer is None:  # an injected hang: never answer, just drop the connection
            self.close_connection = True
            return
        status, content_type, payload = answer[:3]
        headers = answer[3] if len(answer) == 4 else ()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()  # one write of status line, headers and body (wbufsize)
        except (ConnectionError, TimeoutError):  # the client gave up (e.g. its timeout fired)
            self.close_connection = True


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


class TelegramEmulator(EmulatorCore):
    """A Bot API server for one bot token, with simulated users; start() runs it in the background."""

    def __init__(
        self,
        token: str = "123:ABC",  # noqa: S107 (a test token)
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bot_username: str = "hotline_test_bot",
        bot_first_name: str = "Hotline Test Bot",
        clock: Callable[[], float] | None = None,
        rate_limits: RateLimits | None = None,
        callback_timeout: float = 15.0,
        webhook_retry_initial: float = 0.05,
        webhook_retry_max: float = 1.0,
        webhook_timeout: float = 10.0,
        control_api: bool = True,
        latency: float | tuple[float, float] | None = None,
        latency_seed: int | None = None,
    ) -> None:
        super().__init__(
            token,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            clock=clock,
            rate_limits=rate_limits,
            callback_timeout=callback_timeout,
        )
        self.host, self.port = host, port
        self.webhook_retry_initial = webhook_retry_initial
        self.webhook_retry_max = webhook_retry_max
        self.webhook_timeout = webhook_timeout
        self.control_api = control_api
        self.phone_line: PhoneLine | None = None  # the keypad's calls (POST /phone/call), when set
        self._faults: list[Fault] = []
        self._webhook_attempts: list[WebhookAttempt] = []
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._latency_lock = threading.Lock()
        self._latency: tuple[float, float] | None = None
        self._random = random.Random(latency_seed)  # noqa: S311 (delays, not secrets)
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections = 0
        if latency is not None:
            self.set_latency(*(latency if isinstance(latency, tuple) else (latency,)))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> TelegramEmulator:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        self._stop_event.clear()
        with self._lock:
            self._closed = False
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.05,), name="tg-emulator-http", daemon=True),
            threading.Thread(target=self._webhook_loop, name="tg-emulator-webhook", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info("telegram emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        server.shutdown()
        server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        logger.info("telegram emulator stopped")

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: give it to ``TelegramAPIServer.from_base()`` (TELEGRAM_API_BASE)."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ latency and concurrency
    def set_latency(self, low: float | None, high: float | None = None, *, seed: int | None = None) -> None:
        """Answer every Bot API call after a delay drawn uniformly from [low, high] seconds (``high``
        defaults to ``low``; ``low=None`` switches latency off).  Calls wait side by side, each in its
        own connection thread.  ``seed`` makes the delays repeatable."""
        if low is not None and not 0 <= low <= (low if high is None else high):
            raise ValueError("latency needs 0 <= low <= high")
        with self._latency_lock:
            self._latency = None if low is None else (float(low), float(low if high is None else high))
            if seed is not None:
                self._random.seed(seed)

    @property
    def latency(self) -> tuple[float, float] | None:
        with self._latency_lock:
            return self._latency

    def _draw_latency(self) -> float:
        with self._latency_lock:
            if self._latency is None:
                return 0.0
            low, high = self._latency
            return low if low == high else self._random.uniform(low, high)

    @property
    def in_flight(self) -> int:
        """Bot API calls being answered right now (latency included)."""
        with self._latency_lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most Bot API calls that were being answered at the same moment (see reset_counters)."""
        with self._latency_lock:
            return self._max_in_flight

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: with keep-alive, far fewer than the calls made."""
        with self._latency_lock:
            return self._connections

    def _connection_accepted(self) -> None:
        with self._latency_lock:
            self._connections += 1

    def _call_started(self) -> None:
        with self._latency_lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _call_finished(self) -> None:
        with self._latency_lock:
            self._in_flight -= 1

    def stats(self) -> JSON:
        """Running totals: messages sent, chats reached, 429 answers, API calls, concurrency, connections."""
        totals = super().stats()
        with self._latency_lock:
            totals.update(max_in_flight=self._max_in_flight, connections=self._connections)
        return totals

    def reset_counters(self) -> None:
        """Forget sent counts, 429 counts, the API call log and the in-flight maximum."""
        super().reset_counters()
        with self._latency_lock:
            self._max_in_flight = self._in_flight

    # ------------------------------------------------------------------ faults
    def inject_fault(
        self,
        kind: FaultKind,
        *,
        count: int = 1,
        method: str | None = None,
        status: int = 500,
        seconds: float = 0.0,
    ) -> None:
        """Make the next ``count`` API calls (of ``method`` only, if given) fail.

        ``error`` answers HTTP ``status`` (5xx) with a Telegram-shaped body; ``hang`` waits ``seconds``
        and drops the connection without answering (the call has no effect); ``slow`` waits ``seconds``
        and then handles the call normally.
        """
        if count < 1 or (kind == "error" and not 500 <= status <= 599):
            raise ValueError("count must be positive and injected errors 5xx")
        with self._lock:
            self._faults.append(Fault(kind, count, method.lower() if method else None, status, seconds))

    def fail_next(self, count: int = 1, *, method: str | None = None, status: int = 500) -> None:
        self.inject_fault("error", count=count, method=method, status=status)

    def hang_next(self, seconds: float, count: int = 1, *, method: str | None = None) -> None:
        self.inject_fault("hang", count=count, method=method, seconds=seconds)

    def slow_next(self, seconds: float, count: int = 1, *, method: str | None = None) -> None:
        self.inject_fault("slow", count=count, method=method, seconds=seconds)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method is None or fault.method == method.lower():
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return dataclasses.replace(fault)
        return None

    # ------------------------------------------------------------------ HTTP routing
    def _handle_http(self, raw_path: str, content_type: str, body: bytes, method: str = "POST") -> Answer | None:
        parts = urlsplit(raw_path)
        if self.control_api and parts.path == PHONE_CALL_PATH:
            return self._handle_phone_call(method, body)
        if match := _API_PATH.fullmatch(parts.path):
            self._call_started()
            try:
                # Telegram decides a call (and counts it against its limits) when it arrives; the latency
                # is how long its answer takes to come back.
                answer = self._handle_api(unquote(match.group(1)), match.group(2), parts.query, content_type, body)
                delay = self._draw_latency()
                if delay > 0:
                    self._stop_event.wait(delay)
                return answer
            finally:
                self._call_finished()
        if match := _FILE_PATH.fullmatch(parts.path):
            data = self.file_by_path(unquote(match.group(2))) if unquote(match.group(1)) == self.token else None
            if data is not None:
                return 200, "application/octet-stream", data
        elif self.control_api and parts.path.startswith("/_emulator/"):
            return self._handle_control(parts.path.removeprefix("/_emulator/").strip("/"), parts.query, body)
        elif self.control_api and parts.path in PHONE_ASSETS:
            file_name, asset_type = PHONE_ASSETS[parts.path]
            return 200, asset_type, (PHONE_DIR / file_name).read_bytes(), PHONE_HEADERS
        not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
        return 404, "application/json", _json_bytes(not_found)

    def _handle_phone_call(self, method: str, body: bytes) -> Answer:
        """``GET /phone/call``: the phone line's numbers; ``POST`` with JSON: place a call (the page's
        keypad). 404 when no phone line is attached (``phone_line``: ``hotline serve --demo`` sets it)."""
        line = self.phone_line
        answer: JSON
        if line is None:
            no_line = "no phone line in this demo (hotline serve --demo)"
            answer = {"ok": False, "error_code": 404, "description": no_line}
            return 404, "application/json", _json_bytes(answer), PHONE_HEADERS
        try:
            if method == "GET":
                result = line.info()
            else:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise ValueError("the body must be a JSON object")
                result = line.handle(request)
        except ValueError as error:  # json.JSONDecodeError is one
            answer = {"ok": False, "error_code": 400, "description": str(error)}
            return 400, "application/json", _json_bytes(answer), PHONE_HEADERS
        return 200, "application/json", _json_bytes({"ok": True, "result": result}), PHONE_HEADERS

    def _handle_api(self, token: str, method: str, query: str, content_type: str, body: bytes) -> Answer | None:
        fault = self._take_fault(method)
        if fault is not None:
            logger.debug("telegram emulator: injected %s fault on %s", fault.kind, method)
            if fault.kind in ("hang", "slow"):
                self._stop_event.wait(fault.seconds)
            if fault.kind == "hang":
                return None
            if fault.kind == "error":
                error = ApiError(fault.status, HTTPStatus(fault.status).phrase)
                with self._lock:
                    self._api_calls.append(ApiCallRecord(method, fault.status, error.description, self.now()))
                return fault.status, "application/json", _json_bytes(error.to_json())
        if token != self.token:
            status, answer = self.dispatch(token, method, {})
        else:
            try:
                values = parse_request_params(content_type, body, query)
            except ApiError as error:
                return error.error_code, "application/json", _json_bytes(error.to_json())
            status, answer = self.dispatch(token, method, values)
        return status, "application/json", _json_bytes(answer)

    def _handle_control(self, action: str, query: str, body: bytes) -> tuple[int, str, bytes]:
        """``POST /_emulator/<action>`` with JSON keyword arguments, or GET with a query string."""
        try:
            kwargs: JSON = dict(parse_qsl(query))
            if body:
                decoded = json.loads(body)
                if not isinstance(decoded, dict):
                    raise ValueError("the body must be a JSON object")
                kwargs.update(decoded)
            if action not in CONTROL_ACTIONS:
                raise ValueError(f"unknown action; one of {sorted(CONTROL_ACTIONS)}")
            for key in ("user_id", "message_id", "count", "seed", "channel_id"):
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = int(kwargs[key])
            for key in FLOAT_CONTROL_ARGS:
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = float(kwargs[key])
            for key in BOOL_CONTROL_ARGS:
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = kwargs[key].strip().lower() in {"1", "true", "yes"}
            if action == "channel_messages" and isinstance(kwargs.get("channel"), str):
                channel = kwargs["channel"]
                kwargs["channel"] = channel if channel.startswith("@") else int(channel)
            binary = BINARY_CONTROL_ARGS.get(action)
            if binary is not None and binary in kwargs:
                if not isinstance(kwargs[binary], str):
                    raise ValueError(f"{binary} must be base64 text")
                kwargs[binary] = base64.b64decode(kwargs[binary], validate=True)  # binascii.Error is a ValueError
            result = getattr(self, action)(**kwargs)
        except (EmulatorUsageError, TypeError, ValueError) as error:
            answer: JSON = {"ok": False, "error_code": 400, "description": str(error)}
            return 400, "application/json", _json_bytes(answer)
        if isinstance(result, list):
            result = [_plain(item) for item in result]
        return 200, "application/json", _json_bytes({"ok": True, "result": _plain(result)})

    # ------------------------------------------------------------------ webhook delivery
    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        with self._lock:
            return list(self._webhook_attempts)

    def wait_for_webhook_attempts(self, count: int, timeout: float = 5.0) -> list[WebhookAttempt]:
        """Wait until at least ``count`` webhook POSTs were made; return all attempts so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._webhook_attempts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._webhook_attempts)} webhook attempt(s), expected {count}")
                self._changed.wait(remaining)
            return list(self._webhook_attempts)

    def _webhook_loop(self) -> None:
        delay = self.webhook_retry_initial
        while not self._stop_event.is_set():
            with self._changed:
                while not self._closed and not (self._webhook_url and self._pending):
                    self._changed.wait()
                if self._closed:
                    return
                update = copy.deepcopy(self._pending[0])
                url, secret = cast(str, self._webhook_url), self._webhook_secret
            status, error, reply_type, reply = self._post_update(url, secret, update)
            with self._changed:
                self._webhook_attempts.append(
                    WebhookAttempt(update["update_id"], url, status, error, secret, self.now())
                )
                delivered = status is not None and 200 <= status < 300
                if delivered:
                    if self._pending and self._pending[0]["update_id"] == update["update_id"]:
                        self._pending.pop(0)
                else:
                    self._webhook_last_error = (
                        int(self.now()),
                        error or f"Wrong response from the webhook: {status} {_phrase(status)}",
                    )
                self._changed.notify_all()
            logger.debug("telegram emulator: webhook update %s -> %s", update["update_id"], status or "error")
            if delivered:
                delay = self.webhook_retry_initial
                self._run_webhook_reply(reply_type, reply)
            else:
                self._stop_event.wait(delay)
                delay = min(self.webhook_retry_max, delay * 2)

    def _post_update(self, url: str, secret: str | None, update: JSON) -> tuple[int | None, str | None, str, bytes]:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(url, data=_json_bytes(update), headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.webhook_timeout) as response:
                return response.status, None, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, None, "", b""
        except TimeoutError:
            return None, "Read timeout expired", "", b""
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            text = "Connection refused" if isinstance(reason, ConnectionRefusedError) else str(reason)
            return None, text, "", b""

    def _run_webhook_reply(self, content_type: str, body: bytes) -> None:
        """Telegram runs one method that the webhook answer carries (``{"method": ...}``), ignoring errors."""
        if not body.strip():
            return
        try:
            values = parse_request_params(content_type or "application/json", body)
        except ApiError:
            return
        method = values.pop("method", None)
        if isinstance(method, str) and method:
            self.dispatch(self.token, method, values)

    # ------------------------------------------------------------------ simulated users
    def add_user(
        self,
        user_id: int | None = None,
        first_name: str = "Applicant",
        *,
        language_code: str | None = "en",
        last_name: str | None = None,
        username: str | None = None,
    ) -> SimUser:
        """Create a Telegram user.  The bot can message them only after they wrote (e.g. /start)."""
        with self._lock:
            if user_id is None:
                user_id = max(self._users, default=700_000_000) + 1
            if user_id <= 0 or user_id in self._users:
                raise EmulatorUsageError("user ids must be positive and unique")
            self._users[user_id] = SimUser(user_id, first_name, language_code, last_name, username)
            return dataclasses.replace(self._users[user_id])

    def add_users(
        self,
        count: int,
        *,
        language_code: str | Sequence[str | None] | None = "en",
        first_name: str = "Subscriber",
        started: bool = True,
        first_id: int | None = None,
    ) -> list[int]:
        """Create ``count`` users at once (10,000 take well under a second) and return their ids.

        They have started the bot (``started=True``) without any update being queued, so the bot may
        message them at once: subscribers of a broadcast.  A sequence of ``language_code`` values is
        used in turn (e.g. ``["uk", "ru", "en"]``).  Ids are consecutive from ``first_id`` (default:
        after the highest id so far).
        """
        if count < 0:
            raise EmulatorUsageError("count must not be negative")
        languages = [language_code] if language_code is None or isinstance(language_code, str) else list(language_code)
        if not languages:
            raise EmulatorUsageError("give at least one language_code")
        with self._lock:
            start = first_id if first_id is not None else max(self._users, default=700_000_000) + 1
            ids = list(range(start, start + count))
            if start <= 0 or any(uid in self._users for uid in ids):
                raise EmulatorUsageError("user ids must be positive and unique")
            for n, uid in enumerate(ids):
                user = SimUser(uid, f"{first_name} {n + 1}", languages[n % len(languages)])
                user.started = started
                self._users[uid] = user
            return ids

    def block_users(self, user_ids: Iterable[int], *, notify: bool = False) -> int:
        """These users block the bot: every send to them answers 403 "bot was blocked by the user".

        With ``notify`` each block also queues a my_chat_member update (as block_bot() does); by default
        it happens quietly, as if they had blocked the bot long ago.  Returns how many were newly blocked.
        """
        blocked = 0
        with self._lock:
            for user_id in user_ids:
                user = self._known_user(user_id)
                if user.blocked:
                    continue
                if notify:
                    self._member_update(user_id, True)
                else:
                    user.blocked = True
                blocked += 1
            return blocked

    def user(self, user_id: int) -> SimUser:
        with self._lock:
            return dataclasses.replace(self._known_user(user_id))

    def _known_user(self, user_id: int) -> SimUser:
        user = self._users.get(user_id)
        if user is None:
            raise EmulatorUsageError("no simulated user with this id; call add_user() first")
        return user

    def _active_user(self, user_id: int) -> SimUser:
        user = self._known_user(user_id)
        if user.blocked:
            raise EmulatorUsageError("the user has blocked the bot; call unblock_bot() first")
        return user

    def _user_message(self, user_id: int, kind: str, **fields: Any) -> JSON:
        with self._lock:
            user = self._active_user(user_id)
            user.started = True
            return self._enqueue(
                "message", self._message_json(self._add_message(user.id, from_bot=False, kind=kind, **fields))
            )

    def send_text(self, user_id: int, text: str) -> JSON:
        """The user sends text; a leading /command gets a bot_command entity.  Returns the Update."""
        if not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise EmulatorUsageError("a phone sends 1..4096 characters per message")
        entities: list[JSON] = []
        match = COMMAND_RE.match(text)
        if match and (match.end() == len(text) or text[match.end()].isspace()):
            entities.append({"type": "bot_command", "offset": 0, "length": match.end()})
        return self._user_message(user_id, "text", text=text, entities=entities)

    def send_command(self, user_id: int, command: str, args: str = "") -> JSON:
        """The user sends ``/command args`` (``send_command(uid, "start")`` is pressing Start)."""
        return self.send_text(user_id, "/" + command.lstrip("/") + (f" {args}" if args else ""))

    def open_link(self, user_id: int, url: str) -> JSON:
        """The user opens a bot deep link (``https://t.me/<bot>?start=<parameter>``) in the app and
        presses Start: the bot receives ``/start <parameter>``. As in Telegram, a link to another bot
        opens nothing here, and a start parameter must be 1-64 of ``A-Z a-z 0-9 _ -`` (the app drops
        any other, and the user's Start sends a plain ``/start``)."""
        found = _DEEP_LINK.fullmatch(url)
        if found is None:
            raise EmulatorUsageError(f"not a bot deep link: {url!r}")
        if found.group(1).lower() != self.bot_username.lower():
            raise EmulatorUsageError(f"the link opens @{found.group(1)}, not this bot (@{self.bot_username})")
        parameter = unquote(found.group(2) or "")
        return self.send_command(user_id, "start", parameter if _START_PARAMETER.fullmatch(parameter) else "")

    def press_button(self, user_id: int, message_id: int, *, data: str | None = None, text: str | None = None) -> JSON:
        """The user taps an inline button (found by callback data and/or text); returns the Update."""
        if data is None and text is None:
            raise EmulatorUsageError("give data= or text= to choose the button")
        with self._lock:
            user = self._active_user(user_id)
            msg = self._messages.get(user.id, {}).get(message_id)
            if msg is None or not msg.from_bot:
                raise EmulatorUsageError("no such bot message in the user's chat")
            rows = (msg.reply_markup or {}).get("inline_keyboard", [])
            buttons = [b for row in rows for b in row if "callback_data" in b]
            found = [b for b in buttons if data in (None, b["callback_data"]) and text in (None, b["text"])]
            if not found:
                raise EmulatorUsageError("the message has no such callback button")
            query_id = str(secrets.randbits(62))
            self._callbacks[query_id] = CallbackRecord(
                query_id, user.id, message_id, found[0]["callback_data"], self.now()
            )
            payload = {
                "id": query_id,
                "from": user.to_json(),
                "message": self._message_json(msg),
                "chat_instance": str((user.id * 7919 + self.bot_id) % 10**18),
                "data": found[0]["callback_data"],
            }
            return self._enqueue("callback_query", payload)

    def callback_answer(self, callback_query_id: str) -> JSON | None:
        """What answerCallbackQuery showed for this query ({"text", "show_alert", "url"}), or None."""
        with self._lock:
            record = self._callbacks.get(callback_query_id)
            return copy.deepcopy(record.answer) if record else None

    def _send_file(self, user_id: int, kind: str, data: bytes, caption: str | None = None, **extra: Any) -> JSON:
        if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
            raise EmulatorUsageError("captions are at most 1024 characters")
        folder, extension, prefix = FILE_KINDS[kind]
        if kind == "document":
            extension = str(extra["file_name"]).rpartition(".")[2] or "bin"
        with self._lock:
            self._active_user(user_id)
            stored = self._store_file(prefix, folder, extension, bytes(data))
            media = {**stored.to_json(), **extra}
            payload = {kind: [media] if kind == "photo" else media}
            return self._user_message(user_id, kind, caption=caption, file_id=stored.file_id, payload=payload)

    def send_photo(self, user_id: int, data: bytes, *, caption: str | None = None, width: int = 1280) -> JSON:
        return self._send_file(user_id, "photo", data, caption, width=width, height=width * 3 // 4)

    def send_voice(self, user_id: int, data: bytes, *, duration: int = 3, mime_type: str = "audio/ogg") -> JSON:
        return self._send_file(user_id, "voice", data, duration=duration, mime_type=mime_type)

    def send_video_note(self, user_id: int, data: bytes, *, duration: int = 5, length: int = 240) -> JSON:
        return self._send_file(user_id, "video_note", data, duration=duration, length=length)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> JSON:
        return self._send_file(user_id, "document", data, caption, file_name=file_name, mime_type=mime_type)

    def send_sticker(self, user_id: int, data: bytes = b"RIFF\0\0\0\0WEBP", *, emoji: str = "🙂") -> JSON:
        extra: JSON = {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}
        return self._send_file(user_id, "sticker", data, emoji=emoji, **extra)

    def send_location(self, user_id: int, latitude: float, longitude: float) -> JSON:
        return self._user_message(
            user_id, "location", payload={"location": {"latitude": latitude, "longitude": longitude}}
        )

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        contact_user_id: int | None = None,
    ) -> JSON:
        contact: JSON = {"phone_number": phone_number, "first_name": first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._user_message(user_id, "contact", payload={"contact": contact})

    def _member_update(self, user_id: int, block: bool) -> JSON:
        with self._lock:
            user = self._known_user(user_id)
            if user.blocked == block:
                raise EmulatorUsageError("the user has already " + ("blocked" if block else "unblocked") + " the bot")
            user.blocked = block
            member, kicked = (
                {"user": self._bot_json(), "status": "member"},
                {"user": self._bot_json(), "status": "kicked", "until_date": 0},
            )
            return self._enqueue(
                "my_chat_member",
                {
                    "chat": user.chat_json(),
                    "from": user.to_json(),
                    "date": int(self.now()),
                    "old_chat_member": member if block else kicked,
                    "new_chat_member": kicked if block else member,
                },
            )

    def block_bot(self, user_id: int) -> JSON:
        """The user blocks the bot (a my_chat_member update); sending to them now answers 403."""
        return self._member_update(user_id, True)

    def unblock_bot(self, user_id: int) -> JSON:
        """The user unblocks the bot (my_chat_member update; a real client then sends /start too)."""
        return self._member_update(user_id, False)

    # ------------------------------------------------------------------ what the phone shows
    def chat(self, user_id: int) -> list[VisibleMessage]:
        """The user's visible chat with the bot, oldest first, both directions."""
        with self._lock:
            self._known_user(user_id)
            return [
                VisibleMessage(
                    m.message_id,
                    "bot" if m.from_bot else "user",
                    m.date,
                    m.kind,
                    m.text,
                    m.caption,
                    button_texts(m.reply_markup),
                    copy.deepcopy(m.reply_markup),
                    m.protect_content,
                    m.edit_date is not None,
                    m.file_id,
                )
                for _, m in sorted(self._messages.get(user_id, {}).items())
            ]

    def wait_for_bot_messages(
        self, user_id: int, count: int = 1, timeout: float = 5.0, *, after_message_id: int = 0
    ) -> list[VisibleMessage]:
        """Wait until ``count`` bot messages newer than ``after_message_id`` are visible; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in self.chat(user_id) if m.from_bot and m.message_id > after_message_id]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} bot message(s) visible, expected {count}")
                self._changed.wait(remaining)

    def reply_keyboard(self, user_id: int) -> list[list[str]] | None:
        """Texts of the reply keyboard the phone currently shows (None when there is none)."""
        with self._lock:
            markup = self._reply_keyboards.get(user_id)
            return [[str(b["text"]) for b in row] for row in markup["keyboard"]] if markup else None

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by getUpdates or delivered to the webhook."""
        with self._lock:
            return copy.deepcopy(self._pending)

    def my_commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        """Commands stored by setMyCommands for this scope and language."""
        with self._lock:
            key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
            return copy.deepcopy(self._commands.get(key, []))


def _plain(value: Any) -> Any:
    plain = (SimUser, SimChannel, VisibleMessage, ChannelPost)
    return dataclasses.asdict(value) if isinstance(value, plain) else value


def _phrase(status: int | None) -> str:
    try:
        return HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API emulator (no internet needed).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC", help="the only bot token the emulator accepts")
    parser.add_argument("--bot-username", default="hotline_test_bot")
    parser.add_argument("--chat-rate", type=float, default=1.0, help="messages/second per chat (0 = off)")
    parser.add_argument("--chat-burst", type=int, default=3)
    parser.add_argument("--global-rate", type=float, default=30.0, help="messages/second per bot (0 = off)")
    parser.add_argument("--channel-rate", type=float, default=20.0, help="messages/minute per channel (0 = off)")
    parser.add_argument(
        "--latency", type=float, nargs=2, metavar=("LOW", "HIGH"), help="answer API calls after LOW..HIGH seconds"
    )
    parser.add_argument("--latency-seed", type=int, default=None)
    parser.add_argument("--no-control-api", action="store_true", help="disable the /_emulator/ endpoints")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limits = RateLimits(
        per_chat_rate=args.chat_rate,
        per_chat_burst=args.chat_burst,
        global_rate=args.global_rate,
        channel_per_minute=args.channel_rate,
    )
    emulator = TelegramEmulator(
        args.token,
        args.host,
        args.port,
        bot_username=args.bot_username,
        rate_limits=limits,
        control_api=not args.no_control_api,
        latency=tuple(args.latency) if args.latency else None,
        latency_seed=args.latency_seed,
    )
    stopped = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with emulator:
        if emulator.control_api:
            logger.info("simulated phone: %s/phone", emulator.base_url)
        stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
