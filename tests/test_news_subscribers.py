"""Subscribers and broadcasts through the Bot API emulator: /subscribe, /unsubscribe, the offer at the
end of an application, a broadcast started in the console and delivered by the worker, a subscriber
who blocked the bot, broadcast messages deleted when they expire, and no chat id left behind.

The emulator has no channels yet: a private chat stands in for the public channel, which exercises
the same adapter calls (sendMessage with parse_mode HTML, editMessageText, deleteMessage).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.news import posts
from hotline.news.expiry import expire_broadcast_messages
from hotline.news.models import Broadcast, BroadcastTrace, PostMessage, Subscriber
from hotline.news.posts import Draft
from tests.conftest import Org
from tests.console_support import make_staff, signed_in_client
from tests.telegram_harness import TelegramRig, button_data

SAM = Actor(user_id=None, label="sam", role=Role.SUPERVISOR)


def _command(rig: TelegramRig, user_id: int, command: str, args: str = "", language: str = "en") -> None:
    rig.ensure_user(user_id, language)
    rig.act(lambda: rig.emulator.send_command(user_id, command, args))


def _subscription(rig: TelegramRig, user_id: int) -> str | None:
    found = Subscriber.objects.filter(identity=rig.identity(user_id)).first()
    return found.language if found else None


def _subscribe(rig: TelegramRig, user_id: int, language: str = "en") -> None:
    _command(rig, user_id, "subscribe", language, language=language)
    assert _subscription(rig, user_id) == language


def test_subscribe_asks_for_the_language_and_unsubscribe_ends_it(telegram: TelegramRig) -> None:
    rig = telegram
    _command(rig, 501, "subscribe")
    asked = rig.phone(501)[-1]
    assert asked.text == "In which language should we send you the hotline's news?"
    assert button_data(asked) == ["n|en", "n|ru", "n|uk"]  # the chat's own language first
    rig.press(501, "n|en")
    assert _subscription(rig, 501) == "en"
    assert rig.bot_texts(501)[-1].startswith("Done: you will get the hotline's news here, in English.")

    _command(rig, 501, "subscribe")
    assert rig.bot_texts(501)[-1].startswith("You are already subscribed")
    rig.press(501, "n|en")
    assert rig.bot_texts(501)[-1].startswith("You are already subscribed")
    rig.press(501, "n|uk")  # another language: the subscription follows
    assert _subscription(rig, 501) == "uk"
    assert rig.bot_texts(501)[-1].startswith("Готово")

    _command(rig, 501, "unsubscribe")
    assert _subscription(rig, 501) is None
    assert rig.bot_texts(501)[-1].startswith("You will no longer get the news")
    _command(rig, 501, "unsubscribe")
    assert rig.bot_texts(501)[-1].startswith("You are not subscribed")

    _command(rig, 502, "subscribe", "ru", language="uk")
    assert _subscription(rig, 502) == "ru"
    assert rig.bot_texts(502)[-1].startswith("Готово: вы будете получать новости")


def test_the_end_of_an_application_offers_the_news(telegram: TelegramRig) -> None:
    rig = telegram
    for user_id, answer in ((511, "n|en"), (512, "n|no")):
        rig.start(user_id, "en")
        rig.complete_intake(user_id)
        offer = rig.phone(user_id)[-1]
        assert offer.text == "Do you want news from the hotline here? You can stop at any time."
        assert button_data(offer) == ["n|en", "n|no"]
        rig.press(user_id, answer)
    assert _subscription(rig, 511) == "en"
    assert _subscription(rig, 512) is None
    assert rig.bot_texts(512)[-1] == "All right, no news. If you change your mind: /subscribe"


def test_a_post_in_a_channel_is_published_edited_and_deleted(telegram: TelegramRig, settings: Any) -> None:
    rig = telegram
    channel = 7_770_000_001  # a private chat stands in for the channel (the emulator has none yet)
    _command(rig, channel, "help")
    settings.TELEGRAM_CHANNELS = {"*": str(channel)}
    before = len(rig.phone(channel))
    post = posts.do_publish(SAM, posts.do_create_post(SAM, Draft("News", {"en": "<b>Bridge</b> is &lt;open&gt;"})))
    rig.drain()
    shown = rig.phone(channel)[before:]
    assert [m.text for m in shown] == ["Bridge is <open>"]
    assert shown[0].protect_content is False  # public: anyone may forward it
    message = PostMessage.objects.get(post=post)
    assert message.state == "sent" and message.message_id == shown[0].message_id

    posts.do_edit_post(SAM, post, Draft("News", {"en": "The bridge is <i>closed</i>"}))
    rig.drain()
    edited = rig.phone(channel)[-1]
    assert edited.text == "The bridge is closed" and edited.edited

    posts.do_delete_post(SAM, post)
    rig.drain()
    assert all(m.message_id != message.message_id for m in rig.phone(channel))
    assert PostMessage.objects.get(post=post).state == "deleted"


def test_a_broadcast_from_the_console_reaches_subscribers_and_expires(
    telegram: TelegramRig, org_tx: Org, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = telegram
    settings.TELEGRAM_CHANNELS = {}
    readers, blocker = [7_770_012_345, 7_770_012_346], 7_770_012_347
    for user_id in [*readers, blocker]:
        _subscribe(rig, user_id)
    _subscribe(rig, 7_770_012_348, "ru")  # another language: not in this broadcast
    post = posts.do_publish(
        SAM, posts.do_create_post(SAM, Draft("News", {"en": "<b>News</b> for you", "ru": "Новости"}))
    )
    sam = signed_in_client(make_staff(org_tx, "sam", Role.SUPERVISOR))

    started = sam.post(f"/console/posts/{post.pk}/broadcast/", {"language": "en", "expire_hours": "1"})
    assert started.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.total == 3
    page = sam.get(started["Location"])
    assert page.status_code == 200 and b"hx-trigger" in page.content  # still running: the page polls
    rig.emulator.block_bot(blocker)  # after the start: the bot learns it when the message is refused
    rig.drain()

    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.sent, broadcast.failed, broadcast.blocked) == ("done", 2, 0, 1)
    for user_id in readers:
        news = rig.phone(user_id)[-1]
        assert news.text == "News for you" and news.protect_content  # nothing forwarded or saved
    assert _subscription(rig, blocker) is None  # blocked the bot: unsubscribed
    assert all("Новости" not in (m.text or "") for m in rig.phone(7_770_012_348))
    assert BroadcastTrace.objects.count() == 2

    assert expire_broadcast_messages(timezone.now() + timedelta(minutes=59)) == 0
    assert expire_broadcast_messages(timezone.now() + timedelta(hours=1, minutes=1)) == 2
    rig.drain()
    for user_id in readers:
        assert all(m.text != "News for you" for m in rig.phone(user_id))  # gone from the phone
    assert not BroadcastTrace.objects.exists()

    from hotline.cases.backup import backup
    from tests.test_confidentiality import _raw_database_bytes

    blob = _raw_database_bytes(tmp_path)
    backup_blob = backup(tmp_path / "backup.bin").read_bytes()
    for user_id in [*readers, blocker]:
        for needle in (str(user_id).encode(), str(user_id).encode("utf-16-le")):
            assert needle not in blob, "a subscriber's chat id is in the database file"
            assert needle not in backup_blob, "a subscriber's chat id is in the backup"
        assert str(user_id) not in caplog.text, "a subscriber's chat id is in the logs"
