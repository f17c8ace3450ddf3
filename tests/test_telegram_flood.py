"""One chat sending faster than a person types: what is over its allowance is dropped, answered once
with a polite notice, and the case is marked for review — the queue and the outbox stay clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from hotline.audit.models import AuditEvent
from hotline.cases import actions
from hotline.cases.models import Case, CaseTag, Message
from hotline.channels.telegram import conversation, inbound
from hotline.channels.telegram.models import ChatTrace, TelegramChat
from hotline.channels.telegram.phrases import phrase
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind, Direction
from hotline.outbox.models import OutboxMessage
from tests.telegram_harness import TelegramRig

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = 7001


class Clock:
    """The conversation's clock, pinned: a slow machine must not refill an allowance mid-test."""

    def __init__(self) -> None:
        self.at = timezone.now()

    def now(self) -> Any:
        return self.at


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Both stages' clocks: the web process's (``inbound.clock``) and the database stage's."""
    pinned = Clock()
    with (
        mock.patch.object(conversation, "timezone", pinned),
        mock.patch.object(inbound, "clock", lambda: pinned.at.timestamp()),
        # The batch of dropped messages' traces is flushed by the test, never by the background timer
        # racing it on a slow machine.
        mock.patch.object(inbound, "FLUSH_SECONDS", 24 * 3600.0),
    ):
        yield pinned


@pytest.fixture
def small_allowance(settings: Any) -> None:
    settings.TELEGRAM_INBOUND_BURST = 5
    settings.TELEGRAM_INBOUND_PER_MINUTE = 6  # one every 10 seconds


def _open_case(telegram: TelegramRig) -> Case:
    telegram.emulator.add_user(CHAT, language_code="en")
    return actions.do_open_case(Actor.system("telegram"), channel=ChannelKind.TELEGRAM, address=str(CHAT))


def _send(telegram: TelegramRig, count: int, prefix: str = "message") -> None:
    for n in range(count):
        telegram.act(lambda n=n: telegram.emulator.send_text(CHAT, f"{prefix} {n}"), drain=False)  # type: ignore[misc]


def test_a_flood_from_one_chat_is_dropped_with_one_notice_and_the_case_marked(
    telegram: TelegramRig, clock: Clock, small_allowance: None
) -> None:
    case = _open_case(telegram)
    _send(telegram, 12)
    stored = Message.objects.filter(case=case, direction=Direction.INBOUND).count()
    assert stored == 5, "the allowance: five at once"
    # Five answers and one notice queued; the seven messages over the limit cost no send.
    assert OutboxMessage.objects.filter(kind="send").count() == 6
    telegram.drain()
    bot = telegram.bot_texts(CHAT)
    assert bot.count(phrase("flood", "en")) == 1
    assert bot[-1] == phrase("flood", "en")
    assert CaseTag.objects.filter(case=case, tag__name="flood").exists()
    assert AuditEvent.objects.filter(action="case.flood", object_id=str(case.id)).count() == 1
    # Every message stays traced, so the wipe still deletes the flood from the phone: the six the web
    # process dropped before the database (after the one that got the notice) are traced in a batch.
    assert inbound.flush() == 6
    identity = telegram.identity(CHAT)
    assert ChatTrace.objects.filter(identity=identity).count() >= 12
    assert TelegramChat.objects.get(identity=identity).flood_dropped == 7


def test_the_allowance_refills_and_the_case_hears_how_much_was_dropped(
    telegram: TelegramRig, clock: Clock, small_allowance: None
) -> None:
    case = _open_case(telegram)
    _send(telegram, 8)
    inbound.flush()
    clock.at += timedelta(seconds=10)  # one more message's worth
    _send(telegram, 1, "after the flood")
    assert Message.objects.filter(case=case, direction=Direction.INBOUND).count() == 6
    ended = AuditEvent.objects.get(action="case.flood_ended", object_id=str(case.id))
    assert ended.details == {"dropped": 3}
    assert TelegramChat.objects.get(identity=telegram.identity(CHAT)).flood_dropped == 0
    # A second flood gets a second notice.
    _send(telegram, 2, "again")
    telegram.drain()
    assert telegram.bot_texts(CHAT).count(phrase("flood", "en")) == 2


def test_buttons_count_against_the_allowance_too(telegram: TelegramRig, clock: Clock, small_allowance: None) -> None:
    telegram.start(CHAT + 1, "en")  # one update
    message = telegram.phone(CHAT + 1)[-1]  # the first question: its answer, then the same button gone stale
    press = telegram.emulator.press_button
    for _ in range(8):
        telegram.act(lambda: press(CHAT + 1, message.message_id, data="f|consent|yes"), drain=False)
    inbound.flush()
    telegram.drain()
    assert TelegramChat.objects.get(identity=telegram.identity(CHAT + 1)).flood_dropped == 4
    assert telegram.bot_texts(CHAT + 1).count(phrase("flood", "en")) == 1


def test_the_web_process_drops_a_flood_before_the_database(
    telegram: TelegramRig, clock: Clock, small_allowance: None
) -> None:
    from hotline.channels.telegram.models import ProcessedUpdate

    _open_case(telegram)
    _send(telegram, 12)
    # Five handled, the sixth answered with the notice: only those reached the database.
    assert ProcessedUpdate.objects.count() == 6
    assert all(a.status == 200 for a in telegram.emulator.webhook_attempts)


def test_a_chat_within_its_allowance_is_untouched(telegram: TelegramRig, clock: Clock, small_allowance: None) -> None:
    case = _open_case(telegram)
    for n in range(4):
        _send(telegram, 1, f"slow {n}")
        clock.at += timedelta(seconds=10)
    telegram.drain()
    assert Message.objects.filter(case=case, direction=Direction.INBOUND).count() == 4
    assert phrase("flood", "en") not in telegram.bot_texts(CHAT)
    assert not CaseTag.objects.filter(case=case).exists()
