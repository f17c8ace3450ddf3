"""The Telegram emulator for broadcasts: latency, rolling rate limits, many subscribers, channels.

Every test drives the emulator through the real aiogram client on 127.0.0.1.  Limits run on an injected
clock, so nothing sleeps except the emulator's own configured latency, and no test asserts on timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message

from hotline.testing.telegram_emulator import FakeClock, RateLimits, TelegramEmulator
from tests.test_telegram_emulator import raw_call, started_user, with_bot

TOKEN = "123456:TEST-token_x"
NO_LIMITS = RateLimits(per_chat_rate=0, global_rate=0, channel_per_minute=0)
JPEG = b"\xff\xd8\xff\xe0fake jpeg bytes\xff\xd9"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tg(clock: FakeClock) -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN, clock=clock) as emulator:
        yield emulator


# ---------------------------------------------------------------------- latency and connections
def test_latency_is_served_concurrently_over_kept_alive_connections(tg: TelegramEmulator) -> None:
    tg.set_latency(0.1)
    assert tg.latency == (0.1, 0.1)

    async def body(bot: Bot) -> None:
        await bot.get_me()  # opens the first connection
        before = tg.connections_accepted
        for _ in range(5):  # one after another: the same kept-alive connection each time
            await bot.get_me()
        assert tg.connections_accepted == before
        tg.reset_counters()
        results = await asyncio.gather(*(bot.get_me() for _ in range(20)))
        assert {me.id for me in results} == {123456}

    with_bot(tg, body)
    # The 20 calls were being answered at the same time, not one after another.
    assert tg.max_in_flight > 1
    assert tg.in_flight == 0
    assert tg.stats()["max_in_flight"] == tg.max_in_flight
    tg.set_latency(None)
    assert tg.latency is None


def test_latency_range_seed_and_validation() -> None:
    first = TelegramEmulator(TOKEN, latency=(0.05, 0.10), latency_seed=7)
    second = TelegramEmulator(TOKEN, latency=(0.05, 0.10), latency_seed=7)
    draws = [first._draw_latency() for _ in range(50)]
    assert draws == [second._draw_latency() for _ in range(50)]
    assert all(0.05 <= d <= 0.10 for d in draws) and len(set(draws)) > 1
    with pytest.raises(ValueError, match="low <= high"):
        first.set_latency(0.2, 0.1)


def test_latency_and_stats_through_the_control_api(tg: TelegramEmulator) -> None:
    base = f"{tg.base_url}/_emulator"
    status, _ = raw_call(f"{base}/set_latency", json.dumps({"low": 0.01, "high": 0.02}).encode(), "application/json")
    assert status == 200 and tg.latency == (0.01, 0.02)
    assert raw_call(f"{base}/set_latency?low=0")[0] == 200 and tg.latency == (0.0, 0.0)
    status, answer = raw_call(f"{base}/add_users", json.dumps({"count": 3}).encode(), "application/json")
    assert status == 200 and len(answer["result"]) == 3
    status, answer = raw_call(f"{base}/stats")
    assert status == 200 and answer["result"]["sent"] == 0 and answer["result"]["rate_limited"] == 0


# ---------------------------------------------------------------------- rate limits
def test_global_limit_is_a_rolling_window_on_the_emulator_clock(tg: TelegramEmulator, clock: FakeClock) -> None:
    tg.set_rate_limits(RateLimits(per_chat_rate=0, global_rate=30))
    users = tg.add_users(60)

    async def body(bot: Bot) -> None:
        for uid in users[:10]:
            await bot.send_message(uid, "early")
        clock.advance(0.5)
        for uid in users[10:30]:
            await bot.send_message(uid, "later")
        with pytest.raises(TelegramRetryAfter) as caught:  # 30 in the last second
            await bot.send_message(users[30], "too many")
        assert caught.value.retry_after == 1
        clock.advance(0.5)  # the ten early ones leave the window, the twenty later ones do not
        for uid in users[30:40]:
            await bot.send_message(uid, "rolled")
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(users[40], "too many again")

    with_bot(tg, body)
    stats = tg.stats()
    assert (stats["sent"], stats["rate_limited"], stats["rate_limited_global"]) == (40, 2, 2)
    assert tg.rate_limited_count == 2
    refusals = [c for c in tg.api_calls if c.status == 429]
    assert [c.description for c in refusals] == ["Too Many Requests: retry after 1"] * 2


def test_per_chat_and_per_channel_limits_answer_retry_after(tg: TelegramEmulator, clock: FakeClock) -> None:
    tg.set_rate_limits(RateLimits(per_chat_rate=1.0, per_chat_burst=1, global_rate=30))
    uid = started_user(tg)
    channel = tg.add_channel("@hotline_ru", "Гаряча лінія")

    async def body(bot: Bot) -> None:
        await bot.send_message(uid, "one")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(uid, "two")
        assert caught.value.retry_after == 1
        for i in range(20):
            await bot.send_message("@hotline_ru", f"post {i}")
        with pytest.raises(TelegramRetryAfter) as caught:  # 20 a minute in a channel
            await bot.send_message(channel.id, "post 21")
        assert caught.value.retry_after == 60
        clock.advance(60)
        await bot.send_message(channel.id, "a minute later")
        await bot.send_message(uid, "two, later")

    with_bot(tg, body)
    assert tg.stats()["rate_limited_chat"] == 2
    assert tg.sent_counts() == {uid: 2, channel.id: 21}


# ---------------------------------------------------------------------- many subscribers, blocked users
def test_ten_thousand_subscribers_some_blocked(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    ids = tg.add_users(10_000, language_code=["uk", "ru", "en"])
    assert len(ids) == len(set(ids)) == 10_000 and ids == list(range(ids[0], ids[0] + 10_000))
    assert [tg.user(uid).language_code for uid in ids[:4]] == ["uk", "ru", "en", "uk"]
    assert tg.pending_updates() == []  # subscribers made no updates
    blocked = set(ids[::1000])
    assert tg.block_users(blocked) == 10 and tg.block_users(blocked) == 0
    assert tg.pending_updates() == []
    sample = [*ids[:3], ids[1000]]
    photo_id: list[str] = []

    async def body(bot: Bot) -> None:
        sent = await bot.send_photo(ids[1], BufferedInputFile(JPEG, "news.jpg"), caption="news")
        assert sent.photo
        photo_id.append(sent.photo[-1].file_id)
        for uid in sample:
            if uid in blocked:
                with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                    await bot.send_message(uid, "news")
                with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                    await bot.send_photo(uid, photo_id[0])
                with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
                    await bot.copy_message(uid, ids[1], sent.message_id)
            else:
                await bot.send_message(uid, "news")

    with_bot(tg, body)
    assert tg.sent_counts() == {ids[1]: 2, ids[2]: 1}  # ids[0] and ids[1000] blocked the bot
    assert tg.sent_count(ids[0]) == tg.sent_count(ids[1000]) == 0
    assert [c.status for c in tg.api_calls].count(403) == 6
    assert tg.block_users([ids[5]], notify=True) == 1
    assert tg.pending_updates()[-1]["my_chat_member"]["new_chat_member"]["status"] == "kicked"


def test_sent_counts_reveal_duplicates_and_survive_deletion(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    first, second = tg.add_users(2)

    async def body(bot: Bot) -> None:
        await bot.send_message(first, "news")
        duplicate = await bot.send_message(first, "news")
        await bot.delete_message(first, duplicate.message_id)

    with_bot(tg, body)
    counts = tg.sent_counts()
    assert counts == {first: 2} and second not in counts
    assert [m.text for m in tg.chat(first)] == ["news"]
    tg.reset_counters()
    assert tg.sent_counts() == {} and tg.stats()["api_calls"] == 0


# ---------------------------------------------------------------------- channels
def test_channel_posts_edits_and_deletion(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    channel = tg.add_channel("@hotline_ru", "Горячая линия")
    assert channel.id < -1_000_000_000_000 and str(channel.id).startswith("-100")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Read", url="https://example.org/")]])

    async def body(bot: Bot) -> None:
        post = await bot.send_message(
            "@hotline_ru", '<b>Важно</b>: <a href="https://example.org/n">подробнее</a>', parse_mode="HTML"
        )
        assert post.chat.type == "channel" and post.chat.id == channel.id and post.chat.username == "hotline_ru"
        assert post.sender_chat and post.sender_chat.id == channel.id and post.from_user is None
        assert post.text == "Важно: подробнее"
        assert post.entities and [(e.type, e.offset, e.length) for e in post.entities] == [
            ("bold", 0, 5),
            ("text_link", 7, 9),
        ]
        edited = await bot.edit_message_text(
            "<b>Важно</b>: обновлено", chat_id=channel.id, message_id=post.message_id, parse_mode="HTML"
        )
        assert isinstance(edited, Message) and edited.edit_date is not None
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                "<b>Важно</b>: обновлено", chat_id="@hotline_ru", message_id=post.message_id, parse_mode="HTML"
            )
        with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
            await bot.edit_message_caption(chat_id=channel.id, message_id=post.message_id, caption="x")
        await bot.edit_message_reply_markup(chat_id=channel.id, message_id=post.message_id, reply_markup=markup)
        gone = await bot.send_message(channel.id, "a mistake")
        assert await bot.delete_message(channel.id, gone.message_id)
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message("@hotline_ru", gone.message_id)

    with_bot(tg, body)
    posts = tg.channel_messages("@hotline_ru")
    assert len(posts) == 1
    shown = posts[0]
    assert (shown.kind, shown.text, shown.edited, shown.buttons) == ("text", "Важно: обновлено", True, (("Read",),))
    assert shown.entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert tg.channel_messages(channel.id) == posts
    assert tg.sent_count("@hotline_ru") == 2


def test_channel_photo_upload_then_file_id_reuse_and_caption_edit(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    tg.add_channel("@hotline_ru")
    tg.add_channel("@hotline_uk")
    subscriber = tg.add_users(1)[0]

    async def body(bot: Bot) -> str:
        first = await bot.send_photo(
            "@hotline_ru", BufferedInputFile(JPEG, "poster.jpg"), caption="<i>Афиша</i>", parse_mode="HTML"
        )
        assert first.photo and len(first.photo) > 1 and first.caption == "Афиша"
        assert first.caption_entities and first.caption_entities[0].type == "italic"
        widths = [size.width for size in first.photo]
        assert widths == sorted(widths)
        file_id = first.photo[-1].file_id
        again = await bot.send_photo("@hotline_uk", file_id, caption="Афіша")  # no upload this time
        assert again.photo and again.photo[-1].file_unique_id == first.photo[-1].file_unique_id
        await bot.send_photo(subscriber, file_id)
        downloaded = await bot.download(file_id)
        assert downloaded is not None and downloaded.read() == JPEG
        with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
            await bot.send_photo("@hotline_ru", "AgACnot-a-real-file-id")
        await bot.edit_message_caption(chat_id="@hotline_ru", message_id=first.message_id, caption="Афиша!")
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_caption(chat_id="@hotline_ru", message_id=first.message_id, caption="Афиша!")
        with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
            await bot.edit_message_text("text", chat_id="@hotline_ru", message_id=first.message_id)
        return file_id

    file_id = with_bot(tg, body)
    ru = tg.channel_messages("@hotline_ru")
    assert [(p.kind, p.caption, p.edited, p.file_id) for p in ru] == [("photo", "Афиша!", True, file_id)]
    assert ru[0].photo and ru[0].photo[-1]["file_id"] == file_id and ru[0].entities == []
    assert [(p.caption, p.file_id) for p in tg.channel_messages("@hotline_uk")] == [("Афіша", file_id)]
    assert tg.chat(subscriber)[-1].kind == "photo"


def test_channel_html_and_length_errors(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    tg.add_channel("@hotline_ru")

    async def body(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match='Unsupported start tag "div" at byte offset 0'):
            await bot.send_message("@hotline_ru", "<div>hi</div>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
            await bot.send_message("@hotline_ru", "<b>open", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match='Tag "span" must have class "tg-spoiler"'):
            await bot.send_message("@hotline_ru", "<span>x</span>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message("@hotline_ru", "x" * 4097)
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_photo("@hotline_ru", BufferedInputFile(JPEG, "p.jpg"), caption="c" * 1025)
        with pytest.raises(TelegramBadRequest, match="there is no photo in the request"):
            await bot.send_photo("@hotline_ru", "")
        # 4096 visible characters pass, however long the markup; spoiler spans and entities are parsed
        long = await bot.send_message("@hotline_ru", "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
        assert long.text is not None and len(long.text) == 4096
        spoiler = await bot.send_message(
            "@hotline_ru",
            '<span class="tg-spoiler">a</span> <pre><code class="language-python">x = 1</code></pre> 😀&amp;<u>b</u>',
            parse_mode="HTML",
        )
        assert spoiler.entities and [(e.type, e.offset, e.length, e.language) for e in spoiler.entities] == [
            ("spoiler", 0, 1, None),
            ("pre", 2, 5, "python"),
            ("underline", 11, 1, None),  # the emoji counts two UTF-16 code units
        ]

    with_bot(tg, body)
    assert [len(p.text or "") for p in tg.channel_messages("@hotline_ru")] == [4096, 11]


def test_channel_rights_unknown_channels_and_private_channels(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    channel = tg.add_channel("@hotline_ru", bot_is_admin=False)
    private = tg.add_channel(None, "Private", bot_is_member=False)

    async def body(bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest, match="need administrator rights in the channel chat"):
            await bot.send_message("@hotline_ru", "hello")
        with pytest.raises(TelegramBadRequest, match="need administrator rights in the channel chat"):
            await bot.send_photo(channel.id, BufferedInputFile(JPEG, "p.jpg"))
        tg.set_channel_rights("@hotline_ru", bot_is_admin=True)
        post = await bot.send_message("@hotline_ru", "hello")
        tg.set_channel_rights(channel.id, bot_is_member=False)
        with pytest.raises(TelegramForbiddenError, match="bot is not a member of the channel chat"):
            await bot.send_message("@hotline_ru", "again")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.delete_message(channel.id, post.message_id)
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(private.id, "hello")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message("@no_such_channel", "hello")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(-1009999999999, "hello")

    with_bot(tg, body)
    assert [p.text for p in tg.channel_messages("@hotline_ru")] == ["hello"]
    assert tg.sent_counts() == {channel.id: 1}


def test_copy_message_from_a_channel_to_subscribers(tg: TelegramEmulator) -> None:
    tg.set_rate_limits(NO_LIMITS)
    channel = tg.add_channel("@hotline_ru")
    subscribers = tg.add_users(3)
    copied: list[Any] = []

    async def body(bot: Bot) -> None:
        post = await bot.send_photo(channel.id, BufferedInputFile(JPEG, "p.jpg"), caption="<b>x</b>", parse_mode="HTML")
        for uid in subscribers:
            copied.append(await bot.copy_message(uid, "@hotline_ru", post.message_id))
        with pytest.raises(TelegramBadRequest, match="message to copy not found"):
            await bot.copy_message(subscribers[0], channel.id, 999)

    with_bot(tg, body)
    assert all(c.message_id == 1 for c in copied)
    shown = tg.chat(subscribers[0])[-1]
    assert (shown.kind, shown.caption, shown.from_bot) == ("photo", "x", True)
    assert tg.sent_counts() == {channel.id: 1, **dict.fromkeys(subscribers, 1)}
