"""The worker keeps many deliveries in flight and every limit at once (hotline/outbox/delivery.py):
the emulator plays Telegram with an API latency, and counts what it was sent and how much overlapped."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from hotline.cases import actions
from hotline.channels.base import OutboundItem
from hotline.core.metadata import ChannelKind
from hotline.outbox.delivery import SendGate
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import OutboxMessage, Priority
from hotline.testing.telegram_emulator_state import RateLimits
from tests.telegram_harness import TelegramRig

pytestmark = pytest.mark.django_db(transaction=True)


def _queue(rig: TelegramRig, chats: list[int], priority: Priority, text: str) -> None:
    with transaction.atomic():
        for chat in chats:
            identity = actions.get_or_create_identity(ChannelKind.TELEGRAM, str(chat))
            payload = {"chat_id": chat, "text": f"{text} {chat}"}
            enqueue("telegram", "send", payload, identity=identity, priority=priority)


def test_many_sends_are_in_flight_at_once_and_none_is_lost_or_doubled(telegram: TelegramRig) -> None:
    chats = telegram.emulator.add_users(60, language_code="ru")
    telegram.emulator.set_latency(0.05, 0.1, seed=1)
    _queue(telegram, chats, Priority.BULK, "news")
    telegram.drain()
    assert telegram.emulator.max_in_flight > 1  # they overlapped
    assert telegram.emulator.sent_counts() == {chat: 1 for chat in chats}
    assert not OutboxMessage.objects.exists()


def test_a_reply_goes_ahead_of_a_broadcast_already_under_way(telegram: TelegramRig, settings: object) -> None:
    telegram.emulator.set_rate_limits(RateLimits(per_chat_rate=0, global_rate=0))
    bulk = telegram.emulator.add_users(120, language_code="ru")
    (applicant,) = telegram.emulator.add_users(1, language_code="ru")
    _queue(telegram, bulk, Priority.BULK, "news")
    _queue(telegram, [applicant], Priority.REPLY, "reply")
    telegram.worker.deliverer.concurrency = 8
    for gate in telegram.worker.deliverer.gates.values():
        gate.rate, gate.burst, gate.tokens = 40.0, 1.0, 1.0  # a rate that makes senders queue at the gate
    adapter = telegram.worker.deliverer.adapters["telegram"]
    original = adapter.deliver
    order: list[str] = []

    def recording(item: OutboundItem) -> dict[str, Any]:
        order.append(item.payload["text"])  # after the send slot was granted: the order of the sends
        return original(item)

    adapter.deliver = recording  # type: ignore[method-assign]
    telegram.drain()
    assert len(order) == 121
    # The reply was claimed first and took the first send slot although 120 bulk rows were older and
    # eight senders were waiting for slots.
    assert order.index(f"reply {applicant}") == 0


def test_a_short_retry_after_pauses_every_send_a_long_one_only_its_chat() -> None:
    now = [100.0]
    gate = SendGate(rate=0, clock=lambda: now[0])
    gate.pause(3.0)
    assert gate.paused_until == 103.0 and gate.tokens == 0.0
    now[0] = 104.0
    gate.acquire(gate.ticket(urgent=False))  # the pause is over: no wait


def test_after_a_429_the_rate_goes_down_a_little_and_comes_back() -> None:
    now = [0.0]
    gate = SendGate(rate=30, clock=lambda: now[0])
    gate.pause(1.0)
    gate.pause(1.0)
    assert abs(gate.rate - 30 * 0.97 * 0.97) < 1e-9
    for _ in range(100):
        gate.pause(1.0)
    assert gate.rate == 30 * SendGate.FLOOR  # never below the floor
    now[0] = 2.0 + SendGate.RECOVER_AFTER
    gate.acquire(gate.ticket(urgent=False))
    assert abs(gate.rate - 30 * SendGate.FLOOR * SendGate.RECOVER) < 1e-9


def test_slots_go_to_replies_first_then_in_the_order_tickets_were_taken() -> None:
    import threading

    gate = SendGate(rate=0)
    bulk = [gate.ticket(urgent=False) for _ in range(3)]
    reply = gate.ticket(urgent=True)
    granted: list[tuple[int, tuple[int, int]]] = []
    threads = [threading.Thread(target=lambda t=t: granted.append((gate.acquire(t), t))) for t in [*bulk, reply]]
    for thread in reversed(threads):  # the latest ticket arrives first: it must still wait its turn
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [ticket for _, ticket in sorted(granted)] == [reply, *bulk]


def test_sends_are_evenly_spaced_and_a_late_sender_loses_no_slot() -> None:
    now = [0.0]
    gate = SendGate(rate=10, burst=1.5, clock=lambda: now[0])
    gate.acquire(gate.ticket(urgent=False))  # the first slot at once
    assert gate.tokens == 0.0
    now[0] = 0.15  # the next sender woke 50 ms late: half a slot is kept for the one after it
    gate.acquire(gate.ticket(urgent=False))
    assert abs(gate.tokens - 0.5) < 1e-9
    now[0] = 0.2  # so it may go 50 ms after, not 100 ms
    gate.acquire(gate.ticket(urgent=False))
    assert abs(gate.tokens) < 1e-9


def test_two_workers_share_a_broadcast_and_nobody_gets_a_message_twice(telegram: TelegramRig) -> None:
    """Two worker processes' worth of claiming (each its own connection, each many sends in flight):
    on PostgreSQL with SKIP LOCKED, on SQLite one claim at a time; each message goes out once."""
    import threading

    from django.db import connection

    from hotline.channels.telegram.adapter import TelegramAdapter
    from hotline.worker.loop import Worker

    chats = telegram.emulator.add_users(150, language_code="ru")
    telegram.emulator.set_latency(0.02, 0.05, seed=3)
    _queue(telegram, chats, Priority.BULK, "news")
    errors: list[BaseException] = []

    def work() -> None:
        worker = Worker(adapters={"telegram": TelegramAdapter()}, polling=False)
        try:
            while OutboxMessage.objects.exists():
                worker.deliverer.deliver_some()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            worker.close()
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert telegram.emulator.sent_counts() == {chat: 1 for chat in chats}
