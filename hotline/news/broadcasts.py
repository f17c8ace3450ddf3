"""Broadcasts: a published post sent to every subscriber of one language, through the outbox.

Starting a broadcast writes one outbox row per subscriber (priority ``BULK``, behind every reply to an
applicant), each bound to the subscriber's chat so the per-chat pace and order hold. Pausing holds the
rows (``not_before`` far ahead), resuming releases them, cancelling deletes them. The worker reports
each delivery back here (:func:`record_sent`, :func:`record_failed`, :func:`record_blocked`), in the
transaction that removes the row, so the counters and the remaining rows always add up to the total.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline.audit import log as audit
from hotline.cases.models import ChannelIdentity
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.keyring.transport_fields import open_field, seal_value
from hotline.outbox.models import OutboxMessage, Priority

from .models import Broadcast, BroadcastTrace, Post, PostText, Subscriber

PUBLISHERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Telegram lets a bot delete a message in a private chat for 48 hours.
MAX_EXPIRE_HOURS = 47
HELD = datetime(9999, 1, 1, tzinfo=timezone.get_fixed_timezone(0))
INSERT_BATCH = 1000


class NewsError(Exception):
    """A refused request, with a reason fit to show the person who asked."""


def check_publisher(actor: Actor) -> None:
    if actor.role not in PUBLISHERS:
        raise NewsError(_("Only supervisors and admins publish and broadcast."))


def do_start_broadcast(actor: Actor, post: Post, language: str, *, expire_hours: int | None = None) -> Broadcast:
    """Send ``post`` (its text in ``language``) to every subscriber of that language."""
    check_publisher(actor)
    if expire_hours is not None and not 1 <= expire_hours <= MAX_EXPIRE_HOURS:
        raise NewsError(
            _("A broadcast may expire after 1 to %(n)s hours (Telegram's limit is 48).") % {"n": MAX_EXPIRE_HOURS}
        )
    now = timezone.now()
    with transaction.atomic():
        post = Post.objects.select_for_update().get(pk=post.pk)
        if post.state != Post.State.PUBLISHED:
            raise NewsError(_("Only a published post can be broadcast."))
        if not PostText.objects.filter(post=post, language=language).exists():
            raise NewsError(_("The post has no text in that language."))
        if Broadcast.objects.filter(post=post, language=language, state__in=["running", "paused"]).exists():
            raise NewsError(_("This post is already being broadcast in that language."))
        broadcast = Broadcast(
            post=post,
            language=language,
            expire_hours=expire_hours,
            created_by_id=actor.user_id,
            created_at=now,
            started_at=now,
        )
        broadcast.save(force_insert=True)
        total = _enqueue_all(broadcast, now)
        Broadcast.objects.filter(pk=broadcast.pk).update(total=total)
        broadcast.total = total
        if total == 0:
            _finish(broadcast)
        audit.record(
            actor,
            "news.broadcast",
            "post",
            post.pk,
            {"broadcast": str(broadcast.pk), "language": language, "subscribers": total},
        )
    return broadcast


def _enqueue_all(broadcast: Broadcast, now: datetime) -> int:
    """One outbox row per subscriber, inserted in batches of plain statements."""
    subscribers = (
        ChannelIdentity.objects.filter(subscription__language=broadcast.language, blocked=False)
        .filter(telegram__blocked_bot=False)
        .order_by("pk")
    )
    total = 0
    batch: list[dict[str, object]] = []
    for identity in subscribers.iterator(chunk_size=INSERT_BATCH):
        ref = uuid.uuid4()
        payload = {
            "chat_id": int(open_field(identity, "address_enc")),
            "post": str(broadcast.post_id),
            "language": broadcast.language,
            "broadcast": str(broadcast.pk),
        }
        batch.append(
            {
                "ref": ref,
                "channel": "telegram",
                "kind": "bcast",
                "identity_id": identity.pk,
                "message_id": None,
                "broadcast_id": broadcast.pk,
                "priority": int(Priority.BULK),
                "payload_enc": seal_value(OutboxMessage, "payload_enc", ref, json.dumps(payload)),
                "not_before": now,
                "claimed_until": None,
                "attempts": 0,
                "last_error": "",
                "created_at": now,
            }
        )
        if len(batch) >= INSERT_BATCH:
            total += _insert(batch)
            batch = []
    if batch:
        total += _insert(batch)
    return total


def _insert(batch: list[dict[str, object]]) -> int:
    OutboxMessage.objects.bulk_create([OutboxMessage(**row) for row in batch], batch_size=INSERT_BATCH)
    return len(batch)


def _locked(broadcast: Broadcast) -> Broadcast:
    return Broadcast.objects.select_for_update().get(pk=broadcast.pk)


def do_pause(actor: Actor, broadcast: Broadcast) -> Broadcast:
    check_publisher(actor)
    with transaction.atomic():
        broadcast = _locked(broadcast)
        if broadcast.state != Broadcast.State.RUNNING:
            raise NewsError(_("Only a running broadcast can be paused."))
        # Rows a worker holds right now still go out; the rest wait.
        OutboxMessage.objects.filter(broadcast=broadcast).update(not_before=HELD)
        broadcast.state = Broadcast.State.PAUSED
        broadcast.save(update_fields=["state"])
        audit.record(actor, "news.broadcast_pause", "post", broadcast.post_id, {"broadcast": str(broadcast.pk)})
    return broadcast


def do_resume(actor: Actor, broadcast: Broadcast) -> Broadcast:
    check_publisher(actor)
    with transaction.atomic():
        broadcast = _locked(broadcast)
        if broadcast.state != Broadcast.State.PAUSED:
            raise NewsError(_("Only a paused broadcast can be resumed."))
        OutboxMessage.objects.filter(broadcast=broadcast).update(not_before=timezone.now())
        broadcast.state = Broadcast.State.RUNNING
        broadcast.save(update_fields=["state"])
        audit.record(actor, "news.broadcast_resume", "post", broadcast.post_id, {"broadcast": str(broadcast.pk)})
        _finish_if_done(broadcast)
    return broadcast


def do_cancel(actor: Actor, broadcast: Broadcast) -> Broadcast:
    check_publisher(actor)
    with transaction.atomic():
        broadcast = _locked(broadcast)
        if broadcast.state not in (Broadcast.State.RUNNING, Broadcast.State.PAUSED):
            raise NewsError(_("This broadcast has already ended."))
        dropped = OutboxMessage.objects.filter(broadcast=broadcast).delete()[0]
        broadcast.state = Broadcast.State.CANCELLED
        broadcast.finished_at = timezone.now()
        broadcast.save(update_fields=["state", "finished_at"])
        audit.record(
            actor,
            "news.broadcast_cancel",
            "post",
            broadcast.post_id,
            {"broadcast": str(broadcast.pk), "not_sent": dropped},
        )
    return broadcast


# --- what the worker reports (inside the transaction that removes the outbox row) ----------------------


def record_sent(broadcast_id: str, identity_id: str | None, message_id: int | None) -> None:
    Broadcast.objects.filter(pk=broadcast_id).update(sent=F("sent") + 1)
    broadcast = Broadcast.objects.filter(pk=broadcast_id).only("expire_hours", "state").first()
    if broadcast is None:
        return
    if broadcast.expire_hours and identity_id and message_id is not None:
        BroadcastTrace.objects.create(
            broadcast_id=uuid.UUID(broadcast_id),
            identity_id=uuid.UUID(identity_id),
            message_id=message_id,
            delete_after=timezone.now() + timedelta(hours=broadcast.expire_hours),
        )
    _finish_if_done(broadcast, leaving=1)


def record_failed(broadcast_id: str) -> None:
    Broadcast.objects.filter(pk=broadcast_id).update(failed=F("failed") + 1)
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is not None:
        _finish_if_done(broadcast, leaving=1)


def record_blocked(broadcast_id: str, identity_id: str) -> None:
    """The subscriber blocked the bot: unsubscribed for good (they can /subscribe again)."""
    Subscriber.objects.filter(identity_id=uuid.UUID(identity_id)).delete()
    Broadcast.objects.filter(pk=broadcast_id).update(blocked=F("blocked") + 1)
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is not None:
        _finish_if_done(broadcast, leaving=1)


def _finish_if_done(broadcast: Broadcast, leaving: int = 0) -> None:
    """Done when no row is left (``leaving``: the row being removed in this transaction)."""
    if broadcast.state != Broadcast.State.RUNNING:
        return
    if OutboxMessage.objects.filter(broadcast_id=broadcast.pk).count() <= leaving:
        _finish(broadcast)


def _finish(broadcast: Broadcast) -> None:
    Broadcast.objects.filter(pk=broadcast.pk, state=Broadcast.State.RUNNING).update(
        state=Broadcast.State.DONE, finished_at=timezone.now()
    )


# --- progress --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    state: str
    total: int
    sent: int
    failed: int
    blocked: int
    remaining: int
    rate: float  # messages per second the sending rate allows
    eta_seconds: float | None

    @property
    def done_fraction(self) -> float:
        return 1.0 if self.total == 0 else (self.total - self.remaining) / self.total


def progress(broadcast: Broadcast) -> Progress:
    broadcast.refresh_from_db()
    remaining = OutboxMessage.objects.filter(broadcast=broadcast).count()
    rate = float(settings.TELEGRAM_GLOBAL_RATE)
    eta = remaining / rate if broadcast.state == Broadcast.State.RUNNING and rate > 0 else None
    return Progress(
        broadcast.state, broadcast.total, broadcast.sent, broadcast.failed, broadcast.blocked, remaining, rate, eta
    )
