"""The local Telegram Bot API emulator, driven through the real aiogram 3 client.

No Django and no network: every test talks to an emulator on 127.0.0.1 (and, for webhooks, to a tiny
receiver on 127.0.0.1).  Time-dependent rules (48 h deletion window, rate limits, callback expiry) use an
injected clock, so nothing sleeps for long.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

from hotline.testing.telegram_emulator import EmulatorUsageError, FakeClock, RateLimits, TelegramEmulator
from tests.process_support import WAIT

TOKEN = "123456:TEST-token_x"
USER = 5001
T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tg(clock: FakeClock) -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN, clock=clock, webhook_retry_initial=0.02, webhook_retry_max=0.1) as emulator:
        yield emulator


def with_bot(tg: TelegramEmulator, body: Callable[[Bot], Awaitable[T]]) -> T:
    """Run ``body(bot)`` with a real aiogram Bot pointed at the emulator."""

    async def main() -> T:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        async with Bot(TOKEN, session=session) as bot:
            return await body(bot)

    return asyncio.run(main())


def started_user(tg: TelegramEmulator, user_id: int = USER) -> int:
    tg.add_user(user_id, "Ana", language_code="uk")
    tg.send_command(user_id, "start")
    return user_id


def raw_call(url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http://127.0.0.1 only)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_get_me(tg: TelegramEmulator) -> None:
    me = with_bot(tg, lambda bot: bot.get_me())
    assert (me.id, me.is_bot, me.username) == (123456, True, "hotline_test_bot")


def test_a_deep_link_to_the_bot_sends_start_with_its_parameter(tg: TelegramEmulator) -> None:
    tg.add_user(USER, "Ana", language_code="uk")
    tg.open_link(USER, "https://t.me/Hotline_Test_Bot?start=AB12-cd_3")  # usernames ignore case
    tg.open_link(USER, "https://t.me/hotline_test_bot")
    tg.open_link(USER, "https://t.me/hotline_test_bot?start=has%20space")  # the app drops a bad one
    tg.open_link(USER, "https://t.me/hotline_test_bot?start=" + "x" * 65)
    texts = [u["message"]["text"] for u in tg.pending_updates()]
    assert texts == ["/start AB12-cd_3", "/start", "/start", "/start"]
    with pytest.raises(EmulatorUsageError, match="not this bot"):
        tg.open_link(USER, "https://t.me/other_hotline_bot?start=AB12")
    with pytest.raises(EmulatorUsageError, match="not a bot deep link"):
        tg.open_link(USER, "https://example.org/hotline_test_bot?start=AB12")


def test_http_shapes_tokens_methods_and_body_encodings(tg: TelegramEmulator) -> None:
    assert raw_call(f"{tg.base_url}/bot999:WRONG/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_call(f"{tg.base_url}/bot{TOKEN}/sendSticker") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    started_user(tg)
    status, answer = raw_call(
        f"{tg.base_url}/bot{TOKEN}/sendMessage",
        json.dumps({"chat_id": USER, "text": "json body", "protect_content": True}).encode(),
        "application/json",
    )
    assert status == 200 and answer["ok"] is True and answer["result"]["has_protected_content"] is True
    status, answer = raw_call(
        f"{tg.base_url}/bot{TOKEN}/sendMessage",
        f"chat_id={USER}&text=form+body".encode(),
        "application/x-www-form-urlencoded",
    )
    assert status == 200 and answer["result"]["text"] == "form body"
    boundary = "xYzBoundary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n{USER}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nмультипарт\r\n--{boundary}--\r\n'
    ).encode()
    status, answer = raw_call(
        f"{tg.base_url}/bot{TOKEN}/sendMessage", multipart, f"multipart/form-data; boundary={boundary}"
    )
    assert status == 200 and answer["result"]["text"] == "мультипарт"
    assert [m.text for m in tg.chat(USER)] == ["/start", "json body", "form body", "мультипарт"]


def test_send_message_shows_on_the_phone_with_protect_content_and_buttons(tg: TelegramEmulator) -> None:
    started_user(tg)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Yes", callback_data="y"), InlineKeyboardButton(text="No", callback_data="n")]
        ]
    )
    sent = with_bot(
        tg,
        lambda bot: bot.send_message(
            USER, "<b>Your receipt</b> &amp; code", parse_mode="HTML", protect_content=True, reply_markup=markup
        ),
    )
    assert sent.has_protected_content is True and sent.text == "Your receipt & code"
    chat = tg.chat(USER)
    assert [(m.sender, m.text) for m in chat] == [("user", "/start"), ("bot", "Your receipt & code")]
    assert chat[1].protect_content is True and chat[1].buttons == (("Yes", "No"),)
    assert chat[1].message_id == sent.message_id == chat[0].message_id + 1
    assert tg.wait_for_bot_messages(USER, 1, timeout=0.1)[0].text == "Your receipt & code"
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Help")]], resize_keyboard=True)
    tg.advance_time(5)
    with_bot(tg, lambda bot: bot.send_message(USER, "menu", reply_markup=keyboard))
    assert tg.reply_keyboard(USER) == [["Help"]]
    with pytest.raises(TimeoutError):
        tg.wait_for_bot_messages(USER, 3, timeout=0.05)


def test_text_limits_and_entity_parsing(tg: TelegramEmulator) -> None:
    started_user(tg)
    tg.set_rate_limits(RateLimits(per_chat_rate=0, global_rate=0))

    async def body(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(USER, "x" * 4097)
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(USER, "   ")
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(USER, "a < b <div>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="reserved and must be escaped"):
            await bot.send_message(USER, "Done.", parse_mode="MarkdownV2")
        # 4096 visible characters are fine even though the markup makes the request longer
        await bot.send_message(USER, "<i>" + "y" * 4096 + "</i>", parse_mode="HTML")

    with_bot(tg, body)
    assert [len(m.text or "") for m in tg.chat(USER) if m.from_bot] == [4096]


def test_rate_limits_answer_retry_after(tg: TelegramEmulator, clock: FakeClock) -> None:
    started_user(tg)

    async def per_chat(bot: Bot) -> int:
        for i in range(3):  # the burst
            await bot.send_message(USER, f"m{i}")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(USER, "one too many")
        clock.advance(caught.value.retry_after)
        await bot.send_message(USER, "after waiting")
        return caught.value.retry_after

    assert with_bot(tg, per_chat) >= 1
    assert [m.text for m in tg.chat(USER) if m.from_bot] == ["m0", "m1", "m2", "after waiting"]
    assert ("sendMessage", 429, "Too Many Requests: retry after 1") in [
        (c.method, c.status, c.description) for c in tg.api_calls
    ]

    tg.set_rate_limits(RateLimits(per_chat_rate=0, global_rate=2, global_burst=2))
    for uid in (6001, 6002, 6003):
        started_user(tg, uid)

    async def per_bot(bot: Bot) -> None:
        await bot.send_message(6001, "a")
        await bot.send_message(6002, "b")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(6003, "c")

    with_bot(tg, per_bot)


def test_blocked_unknown_and_never_started_users(tg: TelegramEmulator) -> None:
    started_user(tg)
    tg.add_user(7002, "Quiet")
    update = tg.block_bot(USER)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"

    async def body(bot: Bot) -> None:
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(USER, "hello?")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(424242, "hello?")
        with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
            await bot.send_message(7002, "hello?")

    with_bot(tg, body)
    tg.unblock_bot(USER)
    with_bot(tg, lambda bot: bot.send_message(USER, "welcome back"))
    assert tg.chat(USER)[-1].text == "welcome back"


def test_delete_both_sides_within_48_hours_only(tg: TelegramEmulator, clock: FakeClock) -> None:
    started_user(tg)
    incoming = tg.send_text(USER, "my address is ...")["message"]["message_id"]

    async def body(bot: Bot) -> None:
        reply = await bot.send_message(USER, "received")
        assert await bot.delete_messages(USER, [incoming, reply.message_id, 999])
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(USER, reply.message_id)
        old = await bot.send_message(USER, "older than two days soon")
        clock.advance(48 * 3600 + 1)
        with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
            await bot.delete_message(USER, old.message_id)

    with_bot(tg, body)
    assert [m.text for m in tg.chat(USER)] == ["/start", "older than two days soon"]


def test_get_updates_offset_confirms_and_long_polls(tg: TelegramEmulator) -> None:
    started_user(tg)
    tg.send_text(USER, "first")
    tg.send_location(USER, 50.45, 30.52)

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [1, 2, 3]
        assert updates[0].message and updates[0].message.text == "/start"
        assert updates[0].message.entities and updates[0].message.entities[0].type == "bot_command"
        assert updates[2].message and updates[2].message.location
        again = await bot.get_updates(offset=2, timeout=0)
        assert [u.update_id for u in again] == [2, 3]
        assert await bot.get_updates(offset=4, timeout=0) == []
        threading.Timer(0.2, tg.send_text, (USER, "late")).start()
        started = time.monotonic()
        late = await bot.get_updates(offset=4, timeout=50)
        # Back with the update, long before the poll's own 50 s (a bound no loaded machine reaches).
        assert [u.update_id for u in late] == [4] and time.monotonic() - started < 25

    with_bot(tg, body)
    assert tg.pending_updates()[0]["update_id"] == 4


def test_inline_button_callback_answered_once(tg: TelegramEmulator, clock: FakeClock) -> None:
    started_user(tg)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Close case", callback_data="close:1")]])
    sent = with_bot(tg, lambda bot: bot.send_message(USER, "Done?", reply_markup=markup))
    tg.press_button(USER, sent.message_id, text="Close case")

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(offset=2, timeout=0)
        query = updates[0].callback_query
        assert query is not None and query.data == "close:1" and query.from_user.id == USER
        assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
        assert await bot.answer_callback_query(query.id, text="Closed")
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(query.id)
        assert tg.callback_answer(query.id) == {"text": "Closed", "show_alert": False, "url": None}
        late_id = tg.press_button(USER, sent.message_id, data="close:1")["callback_query"]["id"]
        clock.advance(60)
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(late_id)
        edited = await bot.edit_message_text("Closed.", chat_id=USER, message_id=sent.message_id)
        assert isinstance(edited, Message) and edited.reply_markup is None
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text("Closed.", chat_id=USER, message_id=sent.message_id)

    with_bot(tg, body)
    shown = tg.chat(USER)[-1]
    assert (shown.text, shown.buttons, shown.edited) == ("Closed.", (), True)


def test_files_get_file_and_download(tg: TelegramEmulator) -> None:
    started_user(tg)
    voice = b"OggS" + bytes(range(256)) * 40
    tg.send_voice(USER, voice, duration=7)
    tg.send_photo(USER, b"\xff\xd8jpeg", caption="the letter")
    tg.send_video_note(USER, b"mp4 bytes")
    tg.send_contact(USER, "+380000000000", "Ana")
    tg.send_sticker(USER)
    tg.send_document(USER, b"\0" * (20 * 1024 * 1024 + 1), file_name="scan.pdf")

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(offset=2, timeout=0)
        messages = [u.message for u in updates if u.message]
        assert len(messages) == 6
        voice_msg, photo_msg, note_msg, contact_msg, sticker_msg, doc_msg = messages
        assert voice_msg.voice and voice_msg.voice.duration == 7 and voice_msg.voice.file_size == len(voice)
        file = await bot.get_file(voice_msg.voice.file_id)
        assert file.file_path and file.file_size == len(voice)
        downloaded = await bot.download(voice_msg.voice.file_id)
        assert downloaded is not None and downloaded.read() == voice
        assert photo_msg.photo and photo_msg.caption == "the letter"
        photo = await bot.download(photo_msg.photo[-1].file_id)
        assert photo is not None and photo.read() == b"\xff\xd8jpeg"
        assert note_msg.video_note and contact_msg.contact and contact_msg.contact.phone_number == "+380000000000"
        assert sticker_msg.sticker and sticker_msg.sticker.emoji == "🙂"
        assert doc_msg.document and doc_msg.document.file_name == "scan.pdf"
        with pytest.raises(TelegramBadRequest, match="file is too big"):
            await bot.get_file(doc_msg.document.file_id)
        with pytest.raises(TelegramBadRequest, match="invalid file_id"):
            await bot.get_file("nope")

    with_bot(tg, body)
    assert [m.kind for m in tg.chat(USER)][1:] == ["voice", "photo", "video_note", "contact", "sticker", "document"]


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint that fails the first POST with 500 and then answers 200.

    To the update with the text "second" it answers with a method call in the response body, which
    Telegram then executes.
    """

    seen: list[tuple[str | None, dict[str, Any]]]
    reply: dict[str, Any] | None = None

    def do_POST(self) -> None:
        update = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), update))
        answer_in_response = self.reply and update.get("message", {}).get("text") == "second"
        body = json.dumps(self.reply).encode() if answer_in_response else b""
        self.send_response(500 if len(self.seen) == 1 else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_webhook_posts_updates_with_secret_and_retries(tg: TelegramEmulator) -> None:
    started_user(tg)
    _Receiver.seen = []
    _Receiver.reply = {"method": "sendMessage", "chat_id": USER, "text": "answered in the webhook response"}
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/telegram/webhook"
    try:

        async def body(bot: Bot) -> None:
            assert await bot.set_webhook(url, secret_token="s3cr3t-Token_1")
            with pytest.raises(TelegramConflictError):
                await bot.get_updates()
            attempts = await asyncio.to_thread(tg.wait_for_webhook_attempts, 2, WAIT)
            assert [(a.update_id, a.status) for a in attempts] == [(1, 500), (1, 200)]
            info = await bot.get_webhook_info()
            assert info.url == url and info.pending_update_count == 0
            assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
            tg.send_text(USER, "second")
            await asyncio.to_thread(tg.wait_for_webhook_attempts, 3, WAIT)
            await asyncio.to_thread(tg.wait_for_bot_messages, USER, 1, WAIT)
            assert await bot.delete_webhook()

        with_bot(tg, body)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert [secret for secret, _ in _Receiver.seen] == ["s3cr3t-Token_1"] * 3
    assert [u["update_id"] for _, u in _Receiver.seen] == [1, 1, 2]
    assert _Receiver.seen[2][1]["message"]["text"] == "second"
    assert [m.text for m in tg.chat(USER) if m.from_bot] == ["answered in the webhook response"]


def test_fault_injection(tg: TelegramEmulator) -> None:
    async def body(bot: Bot) -> None:
        tg.fail_next(status=502)
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.get_me()
        assert (await bot.get_me()).id == 123456
        tg.hang_next(1.5, method="getMe")
        with pytest.raises(TelegramNetworkError):
            await bot.get_me(request_timeout=1)
        tg.slow_next(0.3)
        started = time.monotonic()
        assert (await bot.get_me()).id == 123456
        assert time.monotonic() - started >= 0.3

    with_bot(tg, body)
    assert [c.status for c in tg.api_calls][:2] == [502, 200]


def test_dispatcher_long_polling_end_to_end(tg: TelegramEmulator) -> None:
    """A real aiogram Dispatcher answers a simulated user and a button press through getUpdates."""
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        button = InlineKeyboardButton(text="OK", callback_data="ok")
        await message.answer(f"got: {message.text}", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("thanks")

    started_user(tg)
    query_ids: list[str] = []

    async def body(bot: Bot) -> None:
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        first = await asyncio.to_thread(tg.wait_for_bot_messages, USER, 1, WAIT)
        assert first[0].text == "got: /start"
        query_ids.append(tg.press_button(USER, first[0].message_id, data="ok")["callback_query"]["id"])
        deadline = time.monotonic() + WAIT  # only against a hung run
        while tg.callback_answer(query_ids[0]) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await dp.stop_polling()
        await polling

    with_bot(tg, body)
    assert tg.callback_answer(query_ids[0]) == {"text": "thanks", "show_alert": False, "url": None}


def test_control_api_for_standalone_demos(tg: TelegramEmulator) -> None:
    base = f"{tg.base_url}/_emulator"

    def post(action: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        return raw_call(f"{base}/{action}", json.dumps(kwargs).encode(), "application/json")

    assert post("add_user", user_id=8001, first_name="Demo")[0] == 200
    status, answer = post("send_text", user_id=8001, text="/start")
    assert status == 200 and answer["result"]["message"]["text"] == "/start"
    status, answer = raw_call(f"{base}/chat?user_id=8001")
    assert status == 200 and [m["text"] for m in answer["result"]] == ["/start"]
    assert raw_call(f"{base}/stop")[0] == 400
