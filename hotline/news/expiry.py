"""Broadcast messages that delete themselves: the worker's job that queues their deletion.

A broadcast started with an expiry leaves a :class:`BroadcastTrace` per message delivered (chat and
message id, ``delete_after``). Once that time has passed the job queues a ``delete`` outbox row for
the subscriber's chat (the Telegram adapter's ``deleteMessages``) and marks the traces queued; the
adapter drops them once Telegram has deleted the messages. So after the expiry a subscriber's phone
keeps nothing of the broadcast, and the database nothing of where it went.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from hotline.cases.models import ChannelIdentity
from hotline.keyring.transport_fields import open_field
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority

from .models import BroadcastTrace

BATCH_CHATS = 500
DELETE_IDS = 100  # deleteMessages takes at most 100 ids
# Telegram lets a bot delete a message in a private chat for 48 hours: a trace older than that is
# of no use (its deletion was dropped, e.g. because the subscriber blocked the bot).
WINDOW = timedelta(hours=48)


def expire_broadcast_messages(now: datetime | None = None) -> int:
    """Queue deletion of every broadcast message whose time is up; return how many."""
    now = now or timezone.now()
    due = BroadcastTrace.objects.filter(delete_queued=False, delete_after__lte=now)
    identity_ids = list(due.values_list("identity_id", flat=True).distinct()[:BATCH_CHATS])
    total = 0
    for identity_id in identity_ids:
        with transaction.atomic():
            identity = ChannelIdentity.objects.filter(pk=identity_id).first()
            traces = BroadcastTrace.objects.select_for_update().filter(
                identity_id=identity_id, delete_queued=False, delete_after__lte=now
            )
            ids = sorted(traces.values_list("message_id", flat=True))
            if identity is None or not ids:
                continue
            chat_id = int(open_field(identity, "address_enc"))
            for start in range(0, len(ids), DELETE_IDS):
                enqueue(
                    "telegram",
                    "delete",
                    {"chat_id": chat_id, "message_ids": ids[start : start + DELETE_IDS]},
                    identity=identity,
                    priority=Priority.HOUSEKEEPING,
                )
            BroadcastTrace.objects.filter(identity_id=identity_id, message_id__in=ids).update(delete_queued=True)
            total += len(ids)
    BroadcastTrace.objects.filter(delete_after__lt=now - WINDOW).delete()
    return total
