"""State and Bot API semantics of the local Telegram Bot API emulator.

This module holds everything that does not need a socket: the simulated users and their phones, the
messages in each private chat, stored files, callback queries, the update queue, rate limits and the
Bot API methods themselves.  :mod:`hotline.testing.telegram_emulator` puts an HTTP server, webhook
delivery and fault injection around it.
"""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON = dict[str, Any]

logger = logging.getLogger("hotline.testing.telegram_emulator")

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
DELETE_WINDOW_SECONDS = 48 * 3600
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_POLL_TIMEOUT = 50.0
MAX_UPLOAD_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_SIZES = ((90, 68), (320, 240), (800, 600), (1280, 960))  # the sizes Telegram makes of an uploaded photo
CHANNEL_ID_BASE = -1_001_000_000_000  # channel chat ids are -100 followed by the channel's own id
DEFAULT_UPDATE_TYPES = tuple(
    """message edited_message channel_post edited_channel_post business_connection business_message
    edited_business_message deleted_business_messages inline_query chosen_inline_result callback_query
    shipping_query pre_checkout_query poll poll_answer my_chat_member chat_join_request chat_boost
    removed_chat_boost""".split()  # noqa: SIM905
)  # every type except chat_member and the reactions, as Telegram sends by default
CHAT_ACTIONS = frozenset(
    """typing upload_photo record_video upload_video record_voice upload_voice upload_document
    choose_sticker find_location record_video_note upload_video_note""".split()  # noqa: SIM905
)
HTML_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a tg-emoji code pre blockquote".split()  # noqa: SIM905
)
MDV2_NEVER_BARE = frozenset("#+-={}.!")
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(\s[^<>]*)?>")
_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9A-Fa-f]+|lt|gt|amp|quot);")
COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
_BOTCOMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_ATTR_RE = re.compile(r"""([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class EmulatorUsageError(Exception):
    """The test asked a simulated user to do something a real phone cannot do."""


class FakeClock:
    """A wall clock (Unix seconds) that only moves when told to; pass it as ``clock=``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass
class RateLimits:
    """Sending limits, as the Bot FAQ states them.  A rate of 0 (or less) switches that limit off.

    * private chats: about one message a second, with short bursts allowed (a token bucket of
      ``per_chat_rate`` messages/second holding ``per_chat_burst``);
    * channels (and groups): ``channel_per_minute`` messages in any rolling minute;
    * the bot overall: ``global_rate`` messages/second, measured as a rolling window of ``global_window``
      seconds on the emulator's clock that holds ``global_burst`` messages (default
      ``global_rate * global_window``).

    A refused send answers 429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``.
    """

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    global_rate: float = 30.0
    global_burst: int | None = None
    global_window: float = 1.0
    channel_per_minute: float = 20.0

    def global_capacity(self) -> int:
        if self.global_burst is not None:
            return max(1, self.global_burst)
        return max(1, round(self.global_rate * self.global_window))


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def wait_time(self, now: float) -> float:
        """Refill, then return how long until one token is available (0 when it is)."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass
class _Window:
    """A rolling window: at most ``limit`` events in any ``seconds``."""

    limit: int
    seconds: float
    stamps: deque[float] = field(default_factory=deque)

    def wait_time(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.seconds:
            self.stamps.popleft()
        return 0.0 if len(self.stamps) < self.limit else self.stamps[0] + self.seconds - now


@dataclass
class SimUser:
    """A simulated Telegram user; the private chat with the bot has ``chat id == user id``."""

    id: int
    first_name: str
    language_code: str | None = "en"
    last_name: str | None = None
    username: str | None = None
    started: bool = False
    blocked: bool = False

    def to_json(self) -> JSON:
        out: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def chat_json(self) -> JSON:
        out: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            out["last_name"] = self.last_name
        if self.username is not None:
            out["username"] = self.username
        return out


@dataclass
class SimChannel:
    """A channel the bot may post to; its chat id is negative (``-100...``)."""

    id: int
    title: str
    username: str | None = None  # without the "@"
    bot_is_member: bool = True
    bot_is_admin: bool = True

    def chat_json(self) -> JSON:
        out: JSON = {"id": self.id, "type": "channel", "title": self.title}
        if self.username is not None:
            out["username"] = self.username
        return out


Chat = SimUser | SimChannel


@dataclass
class StoredMessage:
    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    kind: str
    text: str | None = None
    caption: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    protect_content: bool = False
    edit_date: int | None = None
    payload: JSON = field(default_factory=dict)
    file_id: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)


@dataclass(frozen=True)
class ChannelPost:
    """One post as the channel shows it now."""

    message_id: int
    date: int
    kind: str  # "text" or "photo" (or what copyMessage copied)
    text: str | None
    caption: str | None
    entities: list[JSON]  # of the text, or of the caption
    photo: list[JSON] | None  # the PhotoSize array, largest last
    file_id: str | None
    buttons: tuple[tuple[str, ...], ...]
    edited: bool


@dataclass(frozen=True)
class VisibleMessage:
    """One message as the user's phone shows it."""

    message_id: int
    sender: str  # "bot" or "user"
    date: int
    kind: str  # "text", "photo", "voice", "video_note", "document", "location", "contact", "sticker"
    text: str | None
    caption: str | None
    buttons: tuple[tuple[str, ...], ...]  # texts of the inline keyboard, row by row
    reply_markup: JSON | None
    protect_content: bool
    edited: bool
    file_id: str | None

    @property
    def from_bot(self) -> bool:
        return self.sender == "bot"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes

    def to_json(self) -> JSON:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": len(self.data)}


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False
    answer: JSON | None = None


@dataclass(frozen=True)
class ApiCallRecord:
    method: str
    status: int
    description: str | None
    at: float


class Params:
    """Typed access to request parameters that came as JSON values or as form strings."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def str_opt(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)

    def int_opt(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        raise bad_request(f"invalid {name} specified")

    def bool_(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes"}
        return bool(value)

    def json_opt(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


def parse_request_params(content_type: str, body: bytes, query: str = "") -> JSON:
    """Decode a Bot API request: query string plus a JSON, form-urlencoded or multipart body."""
    values: JSON = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return values
    if mime == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(decoded, dict):
            raise bad_request("JSON request body must be an object")
        values.update(decoded)
    elif mime == "application/x-www-form-urlencoded":
        values.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif mime == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        if not message.is_multipart():
            raise bad_request("can't parse multipart request body")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            raw = part.get_payload(decode=True)
            data = raw if isinstance(raw, bytes) else b""
            values[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return values


def parse_formatted_text(text: str, parse_mode: str | None) -> str:
    """Return the text the phone shows after entity parsing, or raise Telegram's parse errors."""
    return parse_formatted(text, parse_mode)[0]


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    """The visible text and its MessageEntity list (HTML only; offsets in UTF-16 code units)."""
    if parse_mode is None or parse_mode == "":
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text), []
    if mode == "markdown":
        return re.sub(r"[*_`\[\]]", "", text), []
    raise bad_request(f"unsupported parse_mode {parse_mode}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _tag_attrs(raw: str | None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw or ""):
        value = next((v for v in match.group(2, 3, 4) if v is not None), "")
        attrs[match.group(1).lower()] = html.unescape(value)
    return attrs


@dataclass
class _OpenTag:
    name: str
    offset: int  # in UTF-16 code units of the visible text
    attrs: dict[str, str]
    language: str | None = None


def _parse_html(text: str) -> tuple[str, list[JSON]]:
    out: list[str] = []
    entities: list[JSON] = []
    stack: list[_OpenTag] = []
    pos = utf16 = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            offset = len(text[:pos].encode("utf-8"))
            match = _TAG_RE.match(text, pos)
            if match is None:
                raise bad_request(f"can't parse entities: Unexpected end of name token at byte offset {offset}")
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name not in HTML_TAGS:
                raise bad_request(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}')
            if not closing:
                attrs = _tag_attrs(match.group(3))
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise bad_request(
                        f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                    )
                stack.append(_OpenTag(name, utf16, attrs))
            elif not stack or stack[-1].name != name:
                expected = f'"</{stack[-1].name}>"' if stack else "no end tag"
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                    f'expected {expected}, found "</{name}>"'
                )
            else:
                _close_tag(stack, utf16, entities)
            pos = match.end()
            continue
        if char == "&" and (entity := _ENTITY_RE.match(text, pos)) is not None:
            visible = html.unescape(entity.group(0))
            pos = entity.end()
        else:
            visible = char
            pos += 1
        out.append(visible)
        utf16 += _utf16_len(visible)
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1].name}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(stack: list[_OpenTag], utf16: int, entities: list[JSON]) -> None:
    tag = stack.pop()
    length = utf16 - tag.offset
    language = tag.attrs.get("class", "")
    if tag.name == "code" and stack and stack[-1].name == "pre" and language.startswith("language-"):
        stack[-1].language = language.removeprefix("language-")  # <pre><code class="language-x">: one pre entity
        return
    if length <= 0 or (tag.name == "a" and not tag.attrs.get("href")):
        return
    entity: JSON = {"type": HTML_ENTITY_TYPES[tag.name], "offset": tag.offset, "length": length}
    if tag.name == "a":
        entity["url"] = tag.attrs["href"]
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)


def _parse_markdown_v2(text: str) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char in MDV2_NEVER_BARE:
            detail = f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            raise bad_request(f"can't parse entities: {detail}")
        if char not in "*_~|`[]()>":
            out.append(char)
        pos += 1
    return "".join(out)


def normalize_reply_markup(raw: Any) -> JSON | None:
    """Validate ``reply_markup`` like Telegram does and return it in a canonical form."""
    if raw is None or raw == "":
        return None
    invalid = bad_request("can't parse reply keyboard markup JSON object")
    if not isinstance(raw, dict):
        raise invalid
    if "inline_keyboard" in raw:
        rows = raw["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        result: list[list[JSON]] = []
        for row in rows:
            buttons: list[JSON] = []
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise invalid
                if not button["text"]:
                    raise bad_request("BUTTON_TEXT_EMPTY")
                actions = set(button) - {"text"}
                if not actions:
                    raise bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and (not isinstance(data, str) or not 1 <= len(data.encode()) <= 64):
                    raise bad_request("BUTTON_DATA_INVALID")
                buttons.append(dict(button))
            result.append(buttons)
        return {"inline_keyboard": result}
    if "keyboard" in raw:
        rows = raw["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise invalid
        keyboard = [[{"text": b} if isinstance(b, str) else dict(b) for b in row] for row in rows]
        if not all(isinstance(b.get("text"), str) and b["text"] for row in keyboard for b in row):
            raise bad_request("keyboard button text is empty")
        return {**raw, "keyboard": keyboard}
    if raw.get("remove_keyboard") is True or raw.get("force_reply") is True:
        return dict(raw)
    raise invalid


def button_texts(markup: JSON | None) -> tuple[tuple[str, ...], ...]:
    if not markup or "inline_keyboard" not in markup:
        return ()
    return tuple(tuple(str(button["text"]) for button in row) for row in markup["inline_keyboard"])


class EmulatorCore:
    """One bot's view of Telegram plus the simulated users' phones.  Thread-safe."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "hotline_test_bot",
        bot_first_name: str = "Hotline Test Bot",
        clock: Callable[[], float] | None = None,
        rate_limits: RateLimits | None = None,
        callback_timeout: float = 15.0,
    ) -> None:
        if not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", token):
            raise ValueError("token must look like '123456:ABC-def'")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.callback_timeout = callback_timeout
        self._clock: Callable[[], float] = clock or time.time
        self._time_offset = 0.0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._rate_limits = rate_limits or RateLimits()
        self._chat_buckets: dict[int, _Bucket] = {}
        self._channel_windows: dict[int, _Window] = {}
        self._global_window: _Window | None = None
        self._users: dict[int, SimUser] = {}
        self._channels: dict[int, SimChannel] = {}
        self._channels_by_username: dict[str, SimChannel] = {}
        self._photos: dict[str, list[JSON]] = {}  # file_id of any size -> the PhotoSize array
        self._sent_counts: dict[int, int] = {}  # chat id -> messages the bot sent there (never decreases)
        self._rate_limited = {"global": 0, "chat": 0}  # 429 answers, by the limit that refused
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._last_message_id: dict[int, int] = {}
        self._reply_keyboards: dict[int, JSON] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callbacks: dict[str, CallbackRecord] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._pending: list[JSON] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._webhook_url: str | None = None
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._api_calls: list[ApiCallRecord] = []
        self._methods: dict[str, Callable[[Params], Any]] = {  # "_api_send_message" answers "sendmessage"
            name.removeprefix("_api_").replace("_", ""): getattr(self, name)
            for name in dir(self)
            if name.startswith("_api_")
        }

    # ------------------------------------------------------------------ time and limits
    def now(self) -> float:
        """The emulator's wall clock: the injected clock plus everything passed to advance_time()."""
        return self._clock() + self._time_offset

    def advance_time(self, seconds: float) -> None:
        """Move the emulator's clock forward (message ages, rate limits, callback expiry)."""
        with self._changed:
            self._time_offset += seconds
            self._changed.notify_all()

    def set_rate_limits(self, limits: RateLimits) -> None:
        """Replace the sending limits; what was sent before no longer counts against them."""
        with self._lock:
            self._rate_limits = limits
            self._chat_buckets.clear()
            self._channel_windows.clear()
            self._global_window = None

    @property
    def rate_limits(self) -> RateLimits:
        with self._lock:
            return dataclasses.replace(self._rate_limits)

    def _take_send_slot(self, chat_id: int) -> None:
        """Count one message to ``chat_id`` against the limits, or answer 429 (and count the refusal)."""
        limits, now = self._rate_limits, self.now()
        bucket: _Bucket | None = None
        window: _Window | None = None
        chat_wait = global_wait = 0.0
        if chat_id < 0 and limits.channel_per_minute > 0:
            window = self._channel_windows.get(chat_id)
            if window is None:
                window = self._channel_windows[chat_id] = _Window(max(1, int(limits.channel_per_minute)), 60.0)
            chat_wait = window.wait_time(now)
        elif chat_id > 0 and limits.per_chat_rate > 0:
            cap = float(max(1, limits.per_chat_burst))
            bucket = self._chat_buckets.setdefault(chat_id, _Bucket(limits.per_chat_rate, cap, cap, now))
            chat_wait = bucket.wait_time(now)
        if limits.global_rate > 0:
            if self._global_window is None:
                self._global_window = _Window(limits.global_capacity(), max(1e-3, limits.global_window))
            global_wait = self._global_window.wait_time(now)
        if chat_wait > 0 or global_wait > 0:
            self._rate_limited["global" if global_wait >= chat_wait else "chat"] += 1
            retry_after = max(1, math.ceil(max(chat_wait, global_wait)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        if bucket is not None:
            bucket.tokens -= 1.0
        if window is not None:
            window.stamps.append(now)
        if self._global_window is not None and limits.global_rate > 0:
            self._global_window.stamps.append(now)

    # ------------------------------------------------------------------ counters for benchmarks
    def sent_counts(self) -> dict[int, int]:
        """Messages the bot sent, per chat id (sendMessage, sendPhoto, copyMessage; deletions do not
        lower it), so a benchmark can find duplicates (n > 1) and losses (missing chats)."""
        with self._lock:
            return dict(self._sent_counts)

    def sent_count(self, chat_id: int | str) -> int:
        with self._lock:
            return self._sent_counts.get(self._chat_id_of(chat_id), 0)

    @property
    def rate_limited_count(self) -> int:
        """How many 429 Too Many Requests answers the emulator gave so far."""
        with self._lock:
            return sum(self._rate_limited.values())

    def stats(self) -> JSON:
        """Running totals: messages sent, chats reached, 429 answers (by limit), API calls."""
        with self._lock:
            return {
                "sent": sum(self._sent_counts.values()),
                "chats": len(self._sent_counts),
                "rate_limited": sum(self._rate_limited.values()),
                "rate_limited_global": self._rate_limited["global"],
                "rate_limited_chat": self._rate_limited["chat"],
                "api_calls": len(self._api_calls),
            }

    def reset_counters(self) -> None:
        """Forget sent counts, 429 counts and the API call log (chats and messages stay)."""
        with self._lock:
            self._sent_counts.clear()
            self._rate_limited = {"global": 0, "chat": 0}
            self._api_calls.clear()

    # ------------------------------------------------------------------ channels
    def add_channel(
        self,
        username: str | None = None,
        title: str = "Hotline news",
        *,
        bot_is_admin: bool = True,
        bot_is_member: bool = True,
        channel_id: int | None = None,
    ) -> SimChannel:
        """Create a channel (``username`` with or without "@"; None for a private channel).

        By default the bot is an administrator that may post; ``bot_is_admin=False`` makes every post
        answer 400 "need administrator rights in the channel chat", ``bot_is_member=False`` 403 "bot is
        not a member of the channel chat" by @username (400 "chat not found" by id).
        """
        name = username.removeprefix("@") if username else None
        if name is not None and not _USERNAME_RE.fullmatch(name):
            raise EmulatorUsageError("a channel username is 4..32 letters, digits and underscores")
        with self._lock:
            if name is not None and name.lower() in self._channels_by_username:
                raise EmulatorUsageError("a channel with this username exists already")
            if channel_id is None:
                channel_id = min(self._channels, default=CHANNEL_ID_BASE) - 1
            if channel_id > CHANNEL_ID_BASE or channel_id in self._channels:
                raise EmulatorUsageError("channel ids are unique and look like -100XXXXXXXXXX")
            channel = SimChannel(channel_id, title, name, bot_is_member=bot_is_member, bot_is_admin=bot_is_admin)
            self._channels[channel_id] = channel
            if name is not None:
                self._channels_by_username[name.lower()] = channel
            return dataclasses.replace(channel)

    def set_channel_rights(
        self, channel: int | str, *, bot_is_admin: bool | None = None, bot_is_member: bool | None = None
    ) -> SimChannel:
        """Change the bot's standing in a channel (by id or "@username")."""
        with self._lock:
            found = self._known_channel(channel)
            if bot_is_admin is not None:
                found.bot_is_admin = bot_is_admin
            if bot_is_member is not None:
                found.bot_is_member = bot_is_member
            return dataclasses.replace(found)

    def channel(self, channel: int | str) -> SimChannel:
        with self._lock:
            return dataclasses.replace(self._known_channel(channel))

    def _known_channel(self, channel: int | str) -> SimChannel:
        found = self._channels.get(self._chat_id_of(channel))
        if found is None:
            raise EmulatorUsageError("no simulated channel with this id; call add_channel() first")
        return found

    def channel_messages(self, channel: int | str) -> list[ChannelPost]:
        """What the channel shows now, oldest first (deleted posts are gone, edited ones say so)."""
        with self._lock:
            found = self._known_channel(channel)
            return [
                ChannelPost(
                    m.message_id,
                    m.date,
                    m.kind,
                    m.text,
                    m.caption,
                    copy.deepcopy(m.entities if m.kind == "text" else m.caption_entities),
                    copy.deepcopy(m.payload["photo"]) if "photo" in m.payload else None,
                    m.file_id,
                    button_texts(m.reply_markup),
                    m.edit_date is not None,
                )
                for _, m in sorted(self._messages.get(found.id, {}).items())
            ]

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, token: str, method: str, values: Mapping[str, Any]) -> tuple[int, JSON]:
        """Run one Bot API call; return the HTTP status and the JSON answer."""
        handler = self._methods.get(method.lower()) if token == self.token else None
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if handler is None:
                raise ApiError(404, "Not Found")
            status, answer = 200, {"ok": True, "result": handler(Params(values))}
        except ApiError as error:
            status, answer = error.error_code, error.to_json()
        except Exception:
            logger.exception("telegram emulator: %s failed", method if handler else "unknown method")
            status, answer = 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        with self._lock:
            self._api_calls.append(ApiCallRecord(method, status, answer.get("description"), self.now()))
        logger.debug("telegram emulator: %s -> %s", method if handler else "unknown method", status)
        return status, answer

    @property
    def api_calls(self) -> list[ApiCallRecord]:
        """Every Bot API call answered so far (method name, HTTP status, error description)."""
        with self._lock:
            return list(self._api_calls)

    # ------------------------------------------------------------------ helpers
    def _bot_json(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    def _chat_user(self, params: Params, name: str = "chat_id", *, sending: bool = True) -> Chat:
        """The chat ``name`` names (an id, or ``@username`` of a channel), as Telegram checks it.

        ``sending`` adds the checks for writing there: a user who blocked the bot or never started it
        (403), a channel where the bot is not an administrator (400).
        """
        raw = params.values.get(name)
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.strip().startswith("@"):
            channel = self._channels_by_username.get(raw.strip()[1:].lower())
            if channel is None:
                raise bad_request("chat not found")
            return self._usable_channel(channel, by_username=True, sending=sending)
        try:
            chat_id = params.int_opt(name)
        except ApiError:
            raise bad_request("chat not found") from None
        if chat_id is not None and chat_id < 0:
            found = self._channels.get(chat_id)
            if found is None:
                raise bad_request("chat not found")
            return self._usable_channel(found, by_username=False, sending=sending)
        user = self._users.get(chat_id) if chat_id is not None else None
        if user is None:
            raise bad_request("chat not found")
        if sending and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if sending and not user.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return user

    def _usable_channel(self, channel: SimChannel, *, by_username: bool, sending: bool) -> SimChannel:
        if not channel.bot_is_member:
            if by_username and channel.username:
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            raise bad_request("chat not found")  # a private channel the bot is not in does not exist for it
        if sending and not channel.bot_is_admin:
            raise bad_request("need administrator rights in the channel chat")
        return channel

    def _chat_id_of(self, chat: int | str) -> int:
        if isinstance(chat, str) and chat.startswith("@"):
            channel = self._channels_by_username.get(chat[1:].lower())
            if channel is None:
                raise EmulatorUsageError("no simulated channel with this username; call add_channel() first")
            return channel.id
        return int(chat)

    def _message_json(self, msg: StoredMessage) -> JSON:
        out: JSON = {"message_id": msg.message_id}
        if msg.chat_id < 0:
            chat = self._channels[msg.chat_id].chat_json()
            out.update({"sender_chat": chat, "chat": chat, "date": msg.date})  # no "from" in channels
        else:
            user = self._users[msg.chat_id]
            sender = self._bot_json() if msg.from_bot else user.to_json()
            out.update({"from": sender, "chat": user.chat_json(), "date": msg.date})
        if msg.text is not None:
            out["text"] = msg.text
        if msg.entities:
            out["entities"] = copy.deepcopy(msg.entities)
        if msg.caption is not None:
            out["caption"] = msg.caption
        if msg.caption_entities:
            out["caption_entities"] = copy.deepcopy(msg.caption_entities)
        out.update(copy.deepcopy(msg.payload))
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            out["reply_markup"] = copy.deepcopy(msg.reply_markup)
        if msg.protect_content:
            out["has_protected_content"] = True
        if msg.edit_date is not None:
            out["edit_date"] = msg.edit_date
        return out

    def _add_message(self, chat_id: int, *, from_bot: bool, kind: str, **fields: Any) -> StoredMessage:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        msg = StoredMessage(message_id, chat_id, from_bot, int(self.now()), kind, **fields)
        self._messages.setdefault(chat_id, {})[message_id] = msg
        if from_bot:
            self._sent_counts[chat_id] = self._sent_counts.get(chat_id, 0) + 1
        self._changed.notify_all()
        return msg

    def _enqueue(self, kind: str, payload: JSON) -> JSON:
        update: JSON = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        allowed = self._allowed_updates or DEFAULT_UPDATE_TYPES
        if kind in allowed:
            self._pending.append(update)
            self._changed.notify_all()
        logger.debug("telegram emulator: update %s (%s) queued", update["update_id"], kind)
        return copy.deepcopy(update)

    def _set_allowed_updates(self, params: Params) -> None:
        allowed = params.json_opt("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None

    def _validated_text(
        self, params: Params, name: str, limit: int, *, required: bool
    ) -> tuple[str | None, list[JSON]]:
        """The visible text (or caption) and its entities, from ``parse_mode`` or an explicit entity list."""
        raw = params.str_opt(name)
        if raw is None and not required:
            return None, []
        parse_mode = params.str_opt("parse_mode")
        visible, entities = parse_formatted(raw or "", parse_mode)
        explicit = params.json_opt("entities" if name == "text" else "caption_entities")
        if not parse_mode and explicit:
            if not isinstance(explicit, list) or not all(isinstance(e, dict) and "type" in e for e in explicit):
                raise bad_request("can't parse entities JSON object")
            entities = [dict(e) for e in explicit]
        if required and not visible.strip():
            raise bad_request("message text is empty")
        if len(visible) > limit:
            raise bad_request("message is too long" if name == "text" else "message caption is too long")
        return visible, entities

    def _bot_message(self, params: Params, user: Chat, *, action: str) -> StoredMessage:
        message_id = params.int_opt("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        msg = self._messages.get(user.id, {}).get(message_id)
        if msg is None:
            raise bad_request(f"message to {action} not found")
        if not msg.from_bot:
            raise bad_request(f"message can't be {action}ed")
        return msg

    # ------------------------------------------------------------------ Bot API methods
    def _api_get_me(self, params: Params) -> JSON:
        return {
            **self._bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_get_updates(self, params: Params) -> list[JSON]:
        with self._changed:
            if self._webhook_url:
                raise ApiError(409, WEBHOOK_CONFLICT)
            offset = params.int_opt("offset") or 0
            limit = min(100, max(1, params.int_opt("limit") or 100))
            timeout = min(MAX_POLL_TIMEOUT, max(0, params.int_opt("timeout") or 0))
            self._set_allowed_updates(params)
            if offset < 0:
                self._pending = self._pending[offset:]
            elif offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self._poll_generation += 1
            generation = self._poll_generation
            deadline = time.monotonic() + timeout
            while not self._pending and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
                if self._poll_generation != generation:
                    raise ApiError(409, POLL_CONFLICT)
                if self._webhook_url:
                    raise ApiError(409, WEBHOOK_CONFLICT)
            return copy.deepcopy(self._pending[:limit])

    def _api_set_webhook(self, params: Params) -> bool:
        url = params.str_opt("url") or ""
        secret = params.str_opt("secret_token")
        with self._changed:
            if not url:
                return self._api_delete_webhook(params)
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            if secret is not None and not _SECRET_RE.fullmatch(secret):
                raise bad_request("secret token contains unallowed characters")
            max_connections = params.int_opt("max_connections") or 40
            if not 1 <= max_connections <= 100:
                raise bad_request("bad webhook: Wrong max_connections specified")
            if params.bool_("drop_pending_updates"):
                self._pending.clear()
            self._set_allowed_updates(params)
            if url != self._webhook_url:
                self._webhook_last_error = None
            self._webhook_url, self._webhook_secret = url, secret
            self._webhook_max_connections = max_connections
            self._changed.notify_all()
            return True

    def _api_delete_webhook(self, params: Params) -> bool:
        with self._changed:
            if params.bool_("drop_pending_updates"):
                self._pending.clear()
            self._webhook_url = self._webhook_secret = None
            self._webhook_last_error = None
            self._changed.notify_all()
            return True

    def _api_get_webhook_info(self, params: Params) -> JSON:
        with self._lock:
            info: JSON = {"url": self._webhook_url or "", "has_custom_certificate": False}
            info["pending_update_count"] = len(self._pending)
            if self._webhook_url:
                info["max_connections"] = self._webhook_max_connections
                info["ip_address"] = "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
            return info

    def _api_send_message(self, params: Params) -> JSON:
        with self._lock:
            user = self._chat_user(params)
            text, entities = self._validated_text(params, "text", MAX_TEXT_LENGTH, required=True)
            markup = normalize_reply_markup(params.json_opt("reply_markup"))
            self._take_send_slot(user.id)
            protect = params.bool_("protect_content")
            msg = self._add_message(
                user.id,
                from_bot=True,
                kind="text",
                text=text,
                entities=entities,
                reply_markup=markup,
                protect_content=protect,
            )
            if markup and "keyboard" in markup:
                self._reply_keyboards[user.id] = markup
            elif markup and markup.get("remove_keyboard"):
                self._reply_keyboards.pop(user.id, None)
            return self._message_json(msg)

    def _input_photo(self, params: Params) -> list[JSON]:
        """The PhotoSize array for ``photo``: a new upload (multipart) or the file_id of a known photo."""
        raw = params.values.get("photo")
        if isinstance(raw, str) and raw.startswith("attach://"):
            raw = params.values.get(raw.removeprefix("attach://"))
        if isinstance(raw, bytes):
            if not raw:
                raise bad_request("file must be non-empty")
            if len(raw) > MAX_UPLOAD_PHOTO_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            sizes: list[JSON] = []
            for width, height in PHOTO_SIZES:
                stored = self._store_file("AgAC", "photos", "jpg", raw)
                sizes.append({**stored.to_json(), "width": width, "height": height})
            for size in sizes:
                self._photos[size["file_id"]] = sizes
            return copy.deepcopy(sizes)
        if isinstance(raw, str) and raw.strip():
            file_id = raw.strip()
            if file_id in self._photos:
                return copy.deepcopy(self._photos[file_id])
            stored_file = self._files.get(file_id)
            if stored_file is not None and file_id.startswith("AgAC"):  # a photo a user sent
                return [{**stored_file.to_json(), "width": 1280, "height": 960}]
            raise bad_request("wrong file identifier/HTTP URL specified")
        raise bad_request("there is no photo in the request")

    def _store_file(self, prefix: str, folder: str, extension: str, data: bytes) -> StoredFile:
        stored = StoredFile(
            file_id=prefix + secrets.token_urlsafe(40),
            file_unique_id=secrets.token_urlsafe(12),
            file_path=f"{folder}/file_{len(self._files) + 1}.{extension}",
            data=data,
        )
        self._files[stored.file_id] = self._files_by_path[stored.file_path] = stored
        return stored

    def _api_send_photo(self, params: Params) -> JSON:
        with self._lock:
            chat = self._chat_user(params)
            caption, entities = self._validated_text(params, "caption", MAX_CAPTION_LENGTH, required=False)
            markup = normalize_reply_markup(params.json_opt("reply_markup"))
            sizes = self._input_photo(params)
            self._take_send_slot(chat.id)
            msg = self._add_message(
                chat.id,
                from_bot=True,
                kind="photo",
                caption=caption,
                caption_entities=entities,
                reply_markup=markup,
                protect_content=params.bool_("protect_content"),
                payload={"photo": sizes},
                file_id=sizes[-1]["file_id"],
            )
            return self._message_json(msg)

    def _api_copy_message(self, params: Params) -> JSON:
        with self._lock:
            chat = self._chat_user(params)
            source_chat = self._chat_user(params, "from_chat_id", sending=False)
            message_id = params.int_opt("message_id")
            source = self._messages.get(source_chat.id, {}).get(message_id or 0)
            if source is None:
                raise bad_request("message to copy not found")
            caption, caption_entities = source.caption, source.caption_entities
            if "caption" in params.values:
                caption, caption_entities = self._validated_text(params, "caption", MAX_CAPTION_LENGTH, required=False)
            markup = normalize_reply_markup(params.json_opt("reply_markup"))
            self._take_send_slot(chat.id)
            copied = self._add_message(
                chat.id,
                from_bot=True,
                kind=source.kind,
                text=source.text,
                entities=copy.deepcopy(source.entities),
                caption=caption if source.kind != "text" else None,
                caption_entities=copy.deepcopy(caption_entities) if source.kind != "text" else [],
                reply_markup=markup,
                protect_content=params.bool_("protect_content"),
                payload=copy.deepcopy(source.payload),
                file_id=source.file_id,
            )
            return {"message_id": copied.message_id}

    def _api_get_chat(self, params: Params) -> JSON:
        with self._lock:
            chat = self._chat_user(params, sending=False)
            return {**chat.chat_json(), "accent_color_id": 0, "max_reaction_count": 11}

    def _api_edit_message_text(self, params: Params) -> JSON:
        return self._edit(params, "text")

    def _api_edit_message_caption(self, params: Params) -> JSON:
        return self._edit(params, "caption")

    def _api_edit_message_reply_markup(self, params: Params) -> JSON:
        return self._edit(params, "reply_markup")

    def _edit(self, params: Params, what: str) -> JSON:
        with self._lock:
            if params.values.get("inline_message_id"):
                raise bad_request("inline messages are not supported by the emulator")
            user = self._chat_user(params)
            msg = self._bot_message(params, user, action="edit")
            text, entities = msg.text, msg.entities
            caption, caption_entities = msg.caption, msg.caption_entities
            if what == "text":
                if msg.kind != "text":
                    raise bad_request("there is no text in the message to edit")
                text, entities = self._validated_text(params, "text", MAX_TEXT_LENGTH, required=True)
            elif what == "caption":
                if msg.kind == "text":
                    raise bad_request("there is no caption in the message to edit")
                caption, caption_entities = self._validated_text(params, "caption", MAX_CAPTION_LENGTH, required=False)
                caption = caption or None
            markup = normalize_reply_markup(params.json_opt("reply_markup"))
            if markup is not None and "inline_keyboard" not in markup:
                raise bad_request("inline keyboard expected")
            old_markup = msg.reply_markup if msg.reply_markup and "inline_keyboard" in msg.reply_markup else None
            before = (msg.text, msg.entities, msg.caption, msg.caption_entities, old_markup)
            if (text, entities, caption, caption_entities, markup) == before:
                raise bad_request(NOT_MODIFIED)
            msg.text, msg.entities, msg.caption, msg.caption_entities = text, entities, caption, caption_entities
            msg.reply_markup, msg.edit_date = markup, int(self.now())
            self._changed.notify_all()
            return self._message_json(msg)

    def _deletable(self, user: Chat, message_id: int) -> StoredMessage | None:
        msg = self._messages.get(user.id, {}).get(message_id)
        if msg is not None and self.now() - msg.date >= DELETE_WINDOW_SECONDS:
            raise bad_request("message can't be deleted")
        return msg

    def _api_delete_message(self, params: Params) -> bool:
        with self._lock:
            user = self._chat_user(params)
            message_id = params.int_opt("message_id")
            if message_id is None:
                raise bad_request("message identifier is not specified")
            if self._deletable(user, message_id) is None:
                raise bad_request("message to delete not found")
            del self._messages[user.id][message_id]
            self._changed.notify_all()
            return True

    def _api_delete_messages(self, params: Params) -> bool:
        with self._lock:
            user = self._chat_user(params)
            ids = params.json_opt("message_ids")
            if not isinstance(ids, list) or not ids:
                raise bad_request("message identifiers are not specified")
            if len(ids) > 100:
                raise bad_request("too many messages to delete")
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise bad_request("invalid message identifiers specified")
            found = [i for i in ids if self._deletable(user, i) is not None]  # atomic: checks all first
            for message_id in found:
                self._messages[user.id].pop(message_id, None)
            self._changed.notify_all()
            return True

    def _api_answer_callback_query(self, params: Params) -> bool:
        with self._lock:
            record = self._callbacks.get(params.str_opt("callback_query_id") or "")
            if record is None or record.answered or self.now() - record.created > self.callback_timeout:
                raise bad_request(QUERY_TOO_OLD)
            text = params.str_opt("text")
            if text is not None and len(text) > 200:
                raise bad_request("MESSAGE_TOO_LONG")
            record.answered = True
            record.answer = {"text": text, "show_alert": params.bool_("show_alert"), "url": params.str_opt("url")}
            self._changed.notify_all()
            return True

    def _api_get_file(self, params: Params) -> JSON:
        with self._lock:
            file_id = params.str_opt("file_id")
            if not file_id:
                raise bad_request("file_id not specified")
            stored = self._files.get(file_id)
            if stored is None:
                raise bad_request("invalid file_id")
            if len(stored.data) > MAX_DOWNLOAD_BYTES:
                raise bad_request("file is too big")
            return {**stored.to_json(), "file_path": stored.file_path}

    def file_by_path(self, file_path: str) -> bytes | None:
        """Bytes served at ``/file/bot<token>/<file_path>`` (None when there is no such file)."""
        with self._lock:
            stored = self._files_by_path.get(file_path)
            return None if stored is None or len(stored.data) > MAX_DOWNLOAD_BYTES else stored.data

    def _api_send_chat_action(self, params: Params) -> bool:
        with self._lock:
            self._chat_user(params)
            if params.str_opt("action") not in CHAT_ACTIONS:
                raise bad_request("wrong parameter action in request")
            return True

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.json_opt("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.str_opt("language_code") or ""

    def _api_set_my_commands(self, params: Params) -> bool:
        commands = params.json_opt("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        cleaned: list[JSON] = []
        for item in commands:
            if not isinstance(item, dict) or not _BOTCOMMAND_RE.fullmatch(str(item.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            description = str(item.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": item["command"], "description": description})
        with self._lock:
            self._commands[self._commands_key(params)] = cleaned
            return True

    def _api_get_my_commands(self, params: Params) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _api_delete_my_commands(self, params: Params) -> bool:
        with self._lock:
            self._commands.pop(self._commands_key(params), None)
            return True
