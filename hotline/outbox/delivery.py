"""The delivery loop: claim due outbox rows, hand them to their channel adapter, record the outcome.

Delivery is at least once: a worker killed after the provider accepted a message but before the row
was removed sends that message again on restart (docs/architecture.md, "What a crash can duplicate").
Only rows in flight at that moment can be sent twice; a row is removed only after its delivery
succeeded (or failed for good), so none is lost.

Claiming works on SQLite (one writer at a time) and on PostgreSQL with several workers
(``SELECT … FOR UPDATE SKIP LOCKED`` plus a lease in ``claimed_until``). A row is eligible only if no
older row of the same identity remains, so one person's messages go out in order.

Many deliveries are in flight at once (a pool of sender threads; aiogram's session serves them all
on its own loop), while every limit holds:

* a channel's global rate (``rate_per_second``), through one :class:`SendGate` per channel that
  hands out send slots in ticket order, replies to applicants first: a bulk send never takes a slot
  while a reply waits for one, and bulk rows are claimed only after every due reply;
* a provider's ``retry_after`` (Telegram's 429) holds the chat's rows in the database (for every
  worker); a short one (up to :data:`GLOBAL_PAUSE_LIMIT`, which is what Telegram's flood control for
  the whole bot asks for) also pauses every send of that channel in this worker. A long wait is a
  chat's own flood control: pausing everyone for it would stall every applicant's replies;
* a channel's per-chat pace (Telegram: about one message a second) through ``not_before``.

Adapters' ``deliver`` runs on the sender threads and must not touch the database; what it needs from
the database an adapter reads in its optional ``prepare(item)``, which runs in the claiming thread.
Everything that writes (``after_delivery``, the failure paths) runs in the claiming thread too.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from hotline.cases.models import Message
from hotline.channels.base import ChannelAdapter, ChannelError, OutboundItem
from hotline.core.metadata import DeliveryState
from hotline.outbox.enqueue import payload_of
from hotline.outbox.models import OutboxMessage, Priority

log = logging.getLogger("hotline.outbox")

GLOBAL_PAUSE_LIMIT = 5.0
CLAIM_INTERVAL = 0.1
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300.0


def backoff_seconds(attempts: int) -> float:
    return float(min(MAX_BACKOFF, 2 ** min(attempts, 16)))


class SendGate:
    """Send slots for one channel: ``rate`` a second, evenly spaced (a burst of at most ``burst``, so a
    sender that wakes a few milliseconds late loses no slot), and a pause for everyone when the
    provider asks for one (after which the rate is a little lower for a while). Slots go in ticket
    order: a ticket is taken when a delivery is handed to a
    sender (in the claiming thread), replies before bulk, then first come first served, so a reply
    claimed now takes the next slot whatever the bulk senders already waiting."""

    # After the provider's flood control answered, the rate goes down by this factor (to at most
    # FLOOR of what was configured: several workers share the provider's limit without knowing of each
    # other), and back up by RECOVER every RECOVER_AFTER seconds without one.
    SLOWDOWN = 0.97
    FLOOR = 0.8
    RECOVER = 1.01
    RECOVER_AFTER = 20.0

    def __init__(self, rate: float, burst: float = 1.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.configured = rate
        self.rate = rate
        self.last_change = clock()
        self.burst = burst
        self.clock = clock
        self.tokens = 1.0
        self.updated = clock()
        self.paused_until = 0.0
        self._pending: list[tuple[int, int]] = []  # a heap of tickets
        self._sequence = 0
        self._granted = 0
        self._cond = threading.Condition()

    def ticket(self, *, urgent: bool) -> tuple[int, int]:
        with self._cond:
            self._sequence += 1
            ticket = (0 if urgent else 1, self._sequence)
            heapq.heappush(self._pending, ticket)
            return ticket

    def acquire(self, ticket: tuple[int, int]) -> int:
        """Wait for this ticket's slot (every ticket taken must come here exactly once); return the
        slot's number (1 for the first slot this gate granted)."""
        with self._cond:
            try:
                while True:
                    now = self.clock()
                    if now < self.paused_until:
                        self._cond.wait(self.paused_until - now)
                        continue
                    if self._pending[0] != ticket:
                        self._cond.wait()  # an earlier ticket goes first; it notifies when it has its slot
                        continue
                    if self.rate > 0:
                        if self.rate < self.configured and now - self.last_change >= self.RECOVER_AFTER:
                            self.rate = min(self.configured, self.rate * self.RECOVER)
                            self.last_change = now
                        if now > self.updated:
                            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
                            self.updated = now
                        if self.tokens < 1.0:
                            self._cond.wait((1.0 - self.tokens) / self.rate)
                            continue
                        self.tokens -= 1.0
                    self._granted += 1
                    return self._granted
            finally:
                self._pending.remove(ticket)
                heapq.heapify(self._pending)
                self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        with self._cond:
            now = self.clock()
            self.paused_until = max(self.paused_until, now + seconds)
            self.tokens = 0.0
            self.rate = max(self.configured * self.FLOOR, self.rate * self.SLOWDOWN)
            self.last_change = now
            self._cond.notify_all()


@dataclass
class _Flight:
    row: OutboxMessage
    adapter: ChannelAdapter
    item: OutboundItem


class Deliverer:
    """Delivers outbox rows for a set of channel adapters. One per worker process."""

    def __init__(
        self,
        adapters: dict[str, ChannelAdapter],
        clock: Callable[[], float] = time.monotonic,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.adapters = adapters
        self.clock = clock
        self.concurrency = concurrency or settings.HOTLINE_OUTBOX_CONCURRENCY
        self.gates = {name: SendGate(adapter.rate_per_second) for name, adapter in adapters.items()}
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _eligible(self, limit: int | None = None) -> list[int]:
        now = timezone.now()
        older_same_identity = OutboxMessage.objects.filter(identity=OuterRef("identity"), id__lt=OuterRef("id"))
        qs = (
            OutboxMessage.objects.filter(channel__in=list(self.adapters), not_before__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .exclude(Q(identity__isnull=False) & Exists(older_same_identity))
            .order_by("priority", "id")
        )
        batch = min(limit or settings.HOTLINE_OUTBOX_BATCH, settings.HOTLINE_OUTBOX_BATCH)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                ids = list(qs.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:batch])
            else:
                ids = list(qs.values_list("id", flat=True)[:batch])
            lease = timedelta(seconds=settings.HOTLINE_OUTBOX_LEASE_SECONDS)
            OutboxMessage.objects.filter(id__in=ids).update(claimed_until=now + lease)
        return ids

    def deliver_some(self, budget_seconds: float = 5.0, stopping: Callable[[], bool] | None = None) -> int:
        """Deliver what is due, many at once, for about ``budget_seconds`` (so the worker's scheduled jobs
        keep their turn), or until ``stopping()`` (then only what is in flight is finished); return
        how many rows were handled (0: nothing was due)."""
        handled = 0
        flights: dict[Future[Any], _Flight] = {}
        stop_claiming_at = self.clock() + budget_seconds
        exhausted = False
        last_claim = -CLAIM_INTERVAL
        while True:
            room = self.concurrency - len(flights)
            now = self.clock()
            # Claim when half the window is free (fewer claim transactions, the window never runs dry),
            # or at least every CLAIM_INTERVAL while there is room: a reply written during a broadcast
            # is picked up within that, and its ticket goes ahead of every bulk send.
            due = room >= max(1, self.concurrency // 2) or (room > 0 and now - last_claim >= CLAIM_INTERVAL)
            if not exhausted and due and now < stop_claiming_at and not (stopping is not None and stopping()):
                last_claim = now
                claimed = self._claim(room)
                exhausted = not claimed
                for flight in claimed:
                    flights[self._submit(flight)] = flight
            if not flights:
                return handled
            done, _ = wait(list(flights), timeout=CLAIM_INTERVAL, return_when=FIRST_COMPLETED)
            finished = [(flights.pop(future), future) for future in done]
            self._record(finished)
            handled += len(finished)
            if exhausted and self.clock() - last_claim >= CLAIM_INTERVAL:
                exhausted = False  # rows may have become due (a reply written meanwhile)

    def _claim(self, room: int) -> list[_Flight]:
        ids = self._eligible(room)
        if not ids:
            return []
        flights = []
        for row in OutboxMessage.objects.filter(id__in=ids).order_by("priority", "id"):
            adapter = self.adapters[row.channel]
            identity_id = str(row.identity_id) if row.identity_id else None
            item = OutboundItem(kind=row.kind, payload=payload_of(row), identity_id=identity_id)
            prepare = getattr(adapter, "prepare", None)
            if prepare is not None:
                try:
                    item = prepare(item)
                except ChannelError as exc:
                    self._failed(row, adapter, exc)
                    continue
            flights.append(_Flight(row, adapter, item))
        return flights

    def _submit(self, flight: _Flight) -> Future[Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="outbox-send")
        gate = self.gates[flight.row.channel] if flight.row.kind in flight.adapter.paced_kinds else None
        ticket = gate.ticket(urgent=flight.row.priority < Priority.BULK) if gate is not None else None
        return self._pool.submit(self._send, flight, gate, ticket)

    @staticmethod
    def _send(flight: _Flight, gate: SendGate | None, ticket: tuple[int, int] | None) -> dict[str, Any]:
        if gate is not None and ticket is not None:
            gate.acquire(ticket)
        try:
            return flight.adapter.deliver(flight.item)
        except ChannelError as exc:
            if exc.retry_after is not None and gate is not None and exc.retry_after <= GLOBAL_PAUSE_LIMIT:
                gate.pause(exc.retry_after)  # the bot's flood control: every send of the channel waits
            raise

    def _record(self, finished: list[tuple[_Flight, Future[Any]]]) -> None:
        """Record a set of outcomes: the successes in one transaction (each in a savepoint of its own)."""
        successes = []
        for flight, future in finished:
            error = future.exception()
            if error is None:
                successes.append((flight, future.result()))
            elif isinstance(error, ChannelError):
                self._failed(flight.row, flight.adapter, error)
            else:
                log.error("outbox: %s %s raised %s", flight.row.channel, flight.row.kind, type(error).__name__)
                self._failed(flight.row, flight.adapter, ChannelError(f"adapter error {type(error).__name__}"))
        if not successes:
            return
        with transaction.atomic():
            for flight, result in successes:
                row = flight.row
                try:
                    with transaction.atomic():
                        flight.adapter.after_delivery(flight.item, result, row.message_id)
                        if row.message_id:
                            Message.objects.filter(id=row.message_id).update(delivery_state=DeliveryState.SENT)
                        if row.kind in flight.adapter.paced_kinds and row.identity_id:
                            self._pace_identity(row, flight.adapter.chat_interval)
                        OutboxMessage.objects.filter(id=row.id).delete()
                except Exception as exc:  # one row's bookkeeping must not undo the others'
                    log.error("outbox: recording %s %s failed (%s)", row.channel, row.kind, type(exc).__name__)

    def _pace_identity(self, row: OutboxMessage, seconds: float) -> None:
        """Keep the channel's per-chat pace (Telegram: about one message a second), across all workers."""
        interval = timedelta(seconds=seconds)
        OutboxMessage.objects.filter(identity_id=row.identity_id, not_before__lt=timezone.now() + interval).exclude(
            id=row.id
        ).update(not_before=timezone.now() + interval)

    def _release(self, row: OutboxMessage, delay: float, error: str = "", attempt: bool = False) -> None:
        fields: dict[str, Any] = {"claimed_until": None, "not_before": timezone.now() + timedelta(seconds=delay)}
        if error:
            fields["last_error"] = error[:100]
        if attempt:
            fields["attempts"] = row.attempts + 1
        OutboxMessage.objects.filter(id=row.id).update(**fields)

    def _failed(self, row: OutboxMessage, adapter: ChannelAdapter, exc: ChannelError) -> None:
        if exc.retry_after is not None:
            # The provider asked us to wait: hold every row of this chat, keep their order.
            until = timezone.now() + timedelta(seconds=exc.retry_after)
            with transaction.atomic():
                OutboxMessage.objects.filter(identity_id=row.identity_id, not_before__lt=until).update(not_before=until)
                OutboxMessage.objects.filter(id=row.id).update(claimed_until=None, last_error="retry_after")
            log.info("outbox: %s %s held for %.0fs (rate limited)", row.channel, row.kind, exc.retry_after)
            return
        if exc.recipient_gone and row.identity_id:
            with transaction.atomic():
                adapter.on_recipient_gone(str(row.identity_id))
                pending = OutboxMessage.objects.filter(identity_id=row.identity_id)
                Message.objects.filter(id__in=pending.exclude(message=None).values("message_id")).update(
                    delivery_state=DeliveryState.FAILED
                )
                pending.delete()
            log.info("outbox: %s recipient gone; pending items dropped", row.channel)
            return
        if exc.permanent or row.attempts + 1 >= MAX_ATTEMPTS:
            with transaction.atomic():
                given_up = getattr(adapter, "on_given_up", None)
                if given_up is not None:
                    identity_id = str(row.identity_id) if row.identity_id else None
                    given_up(OutboundItem(kind=row.kind, payload=payload_of(row), identity_id=identity_id))
                if row.message_id:
                    Message.objects.filter(id=row.message_id).update(delivery_state=DeliveryState.FAILED)
                OutboxMessage.objects.filter(id=row.id).delete()
            log.warning("outbox: %s %s failed for good: %s", row.channel, row.kind, exc.reason)
            return
        self._release(row, delay=backoff_seconds(row.attempts + 1), error=exc.reason, attempt=True)
        log.info("outbox: %s %s failed (%s); retry %d", row.channel, row.kind, exc.reason, row.attempts + 1)
