"""Telegram notifications end to end: an operator links their own Telegram account with a one-time
code sent to the bot, and the worker's job sends them one message with the counts of what arrived —
through the outbox, the real aiogram client and the Bot API emulator, which plays their phone."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from hotline.accounts.models import User
from hotline.cases.models import Case, ChannelIdentity, Message
from hotline.channels.telegram.conversation import wipe_idle_chats
from hotline.channels.telegram.models import ChatTrace
from hotline.core.lifecycle import Role
from hotline.notify import actions as notify
from hotline.notify.models import NotificationSettings
from hotline.worker.jobs import run_due_jobs
from hotline.worker.models import ScheduledJob
from tests.conftest import Org
from tests.console_support import inbound, make_staff, open_case, signed_in_client
from tests.telegram_harness import TelegramRig

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR_CHAT = 7001
PLANTED = "Planted: my name is Ivan Petrenko, unit 1234"


def _opened_earlier(case: Case, seconds: int) -> None:
    """Set-up: the case and its messages as if they had arrived ``seconds`` ago."""
    at = timezone.now() - timedelta(seconds=seconds)
    Case.objects.filter(pk=case.pk).update(created_at=at)
    Message.objects.filter(case=case).update(created_at=at)


def test_an_operator_links_telegram_and_gets_one_message_with_counts_only(telegram: TelegramRig) -> None:
    alice = User.objects.create_user(username="alice", password="x" * 20, role=Role.OPERATOR)
    code = notify.do_start_telegram_link(alice)
    NotificationSettings.objects.filter(user=alice).update(language="en")
    telegram.ensure_user(OPERATOR_CHAT, "en")
    telegram.act(lambda: telegram.emulator.send_command(OPERATOR_CHAT, "start", code))

    linked = telegram.bot_texts(OPERATOR_CHAT)
    assert len(linked) == 1 and linked[0].startswith("This Telegram account now gets the hotline's notifications")
    row = NotificationSettings.objects.get(user=alice)
    assert row.by_telegram and row.telegram_chat_enc is not None
    assert str(OPERATOR_CHAT).encode() not in bytes(row.telegram_chat_enc)

    # The cursor starts at the link: what arrives after it is news. Two applications come in.
    NotificationSettings.objects.filter(user=alice).update(telegram_cursor=timezone.now() - timedelta(minutes=5))
    for chat in ("301", "302"):
        case = open_case(chat, identity_details=PLANTED)
        inbound(case, PLANTED)
        _opened_earlier(case, 60)

    ScheduledJob.objects.filter(name="notify-telegram").delete()
    assert "notify-telegram" in run_due_jobs()
    telegram.drain()
    texts = telegram.bot_texts(OPERATOR_CHAT)
    assert texts[1:] == ["2 new cases"], "one message, the count and nothing else"
    assert all(m.protect_content for m in telegram.phone(OPERATOR_CHAT) if m.from_bot)

    # The job runs again at once: nothing is sent (nothing new, and the minute is not over).
    assert notify.send_due() == 0
    telegram.drain()
    assert len(telegram.bot_texts(OPERATOR_CHAT)) == 2

    # Like every bot message, the notifications leave the operator's phone once the chat is idle.
    ChatTrace.objects.update(at=timezone.now() - timedelta(hours=1))
    assert wipe_idle_chats() > 0
    telegram.drain()
    assert telegram.phone(OPERATOR_CHAT) == []


def test_an_operator_links_telegram_by_opening_the_link_the_console_shows(
    telegram: TelegramRig, org_tx: Org, settings: Any
) -> None:
    settings.TELEGRAM_BOT_USERNAME = telegram.emulator.bot_username
    alice = make_staff(org_tx, "alice", Role.OPERATOR)
    page = signed_in_client(alice).post("/console/notify/telegram/link/").content.decode()
    url = html.unescape(page.split('" id="link-open"', 1)[0].rsplit('<a href="', 1)[1])
    telegram.ensure_user(OPERATOR_CHAT, "en")
    telegram.act(lambda: telegram.emulator.open_link(OPERATOR_CHAT, url))
    linked = telegram.bot_texts(OPERATOR_CHAT)
    assert len(linked) == 1 and linked[0].startswith("This Telegram account now gets the hotline's notifications")
    assert NotificationSettings.objects.get(user=alice.user).telegram_chat_enc is not None


def test_a_stale_code_is_an_ordinary_start(telegram: TelegramRig) -> None:
    alice = User.objects.create_user(username="alice", password="x" * 20, role=Role.OPERATOR)
    code = notify.do_start_telegram_link(alice)
    notify.do_unlink_telegram(alice)  # forgets the waiting code too
    telegram.ensure_user(OPERATOR_CHAT, "en")
    telegram.act(lambda: telegram.emulator.send_command(OPERATOR_CHAT, "start", code))
    texts = telegram.bot_texts(OPERATOR_CHAT)
    assert texts and not any("notifications" in t for t in texts), "the intake starts; nothing says codes exist"
    assert NotificationSettings.objects.get(user=alice).telegram_chat_enc is None
    assert ChannelIdentity.objects.count() == 1
