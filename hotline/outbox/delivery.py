"""The delivery loop: claim due outbox rows, hand them to their channel adapter, record the outcome.

Delivery is at least once: a worker killed after the provider accepted a message but before the row
was removed sends that message again on restart (docs/architecture.md, "What a crash can duplicate").

Claiming works on SQLite (one writer at a time) and on PostgreSQL with several workers
(``SELECT … FOR UPDATE SKIP LOCKED`` plus a lease in ``claimed_until``). A row is eligible only if no
older row of the same identity remains, so one person's messages go out in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from hotline.cases.models import Message
from hotline.channels.base import ChannelAdapter, ChannelError, OutboundItem
from hotline.core.metadata import DeliveryState
from hotline.core.ratelimit import TokenBucket
from hotline.outbox.enqueue import payload_of
from hotline.outbox.models import OutboxMessage

log = logging.getLogger("hotline.outbox")

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300.0


def backoff_seconds(attempts: int) -> float:
    return float(min(MAX_BACKOFF, 2 ** min(attempts, 16)))


class Deliverer:
    """Delivers outbox rows for a set of channel adapters. One per worker process."""

    def __init__(self, adapters: dict[str, ChannelAdapter], clock: Callable[[], float] = time.monotonic) -> None:
        self.adapters = adapters
        self.clock = clock
        self.global_buckets = {
            name: TokenBucket(rate=adapter.rate_per_second, burst=max(1.0, adapter.rate_per_second))
            for name, adapter in adapters.items()
        }

    def _eligible(self) -> list[int]:
        now = timezone.now()
        older_same_identity = OutboxMessage.objects.filter(identity=OuterRef("identity"), id__lt=OuterRef("id"))
        qs = (
            OutboxMessage.objects.filter(channel__in=list(self.adapters), not_before__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .exclude(Q(identity__isnull=False) & Exists(older_same_identity))
            .order_by("priority", "id")
        )
        batch = settings.HOTLINE_OUTBOX_BATCH
        with transaction.atomic():
            if connection.vendor == "postgresql":
                ids = list(qs.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:batch])
            else:
                ids = list(qs.values_list("id", flat=True)[:batch])
            OutboxMessage.objects.filter(id__in=ids).update(claimed_until=now + LEASE)
        return ids

    def deliver_some(self) -> int:
        """Deliver what is due now; return how many rows were handled (0: nothing to do)."""
        handled = 0
        for row_id in self._eligible():
            row = OutboxMessage.objects.filter(id=row_id).first()
            if row is None:
                continue
            self._deliver_one(row)
            handled += 1
        return handled

    def _deliver_one(self, row: OutboxMessage) -> None:
        adapter = self.adapters[row.channel]
        wait = self.global_buckets[row.channel].take(self.clock()) if row.kind in adapter.paced_kinds else 0.0
        if wait > 0:
            self._release(row, delay=wait)
            return
        identity_id = str(row.identity_id) if row.identity_id else None
        item = OutboundItem(kind=row.kind, payload=payload_of(row), identity_id=identity_id)
        try:
            result = adapter.deliver(item)
        except ChannelError as exc:
            self._failed(row, adapter, exc)
            return
        with transaction.atomic():
            adapter.after_delivery(item, result, row.message_id)
            if row.message_id:
                Message.objects.filter(id=row.message_id).update(delivery_state=DeliveryState.SENT)
            if row.kind in adapter.paced_kinds and row.identity_id:
                self._pace_identity(row, adapter.chat_interval)
            OutboxMessage.objects.filter(id=row.id).delete()

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
