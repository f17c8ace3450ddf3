from __future__ import annotations

import uuid

from django.db import models


class Priority(models.IntegerChoices):
    """Lower goes first: answers to a person who is writing now go ahead of housekeeping and bulk."""

    INTERACTIVE = 0
    REPLY = 1
    HOUSEKEEPING = 5
    BULK = 9


class OutboxMessage(models.Model):
    """Something to do on a channel (send, delete, answer a button, fetch a file), written in the same
    transaction as the change that caused it and removed once done.

    The payload (text, chat id, file id) is under the transport key, bound to ``ref``. Rows of one
    identity are handled strictly in ``id`` order: a row waits while an older row of the same identity
    exists.
    """

    id = models.BigAutoField(primary_key=True)
    ref = models.UUIDField(default=uuid.uuid4, unique=True)
    channel = models.CharField(max_length=16)
    kind = models.CharField(max_length=16)
    identity = models.ForeignKey("cases.ChannelIdentity", null=True, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("cases.Message", null=True, on_delete=models.SET_NULL, related_name="+")
    # The broadcast this row belongs to (paused, resumed and cancelled with it).
    broadcast = models.ForeignKey("news.Broadcast", null=True, on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.REPLY)
    payload_enc = models.BinaryField()
    not_before = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["priority", "id"], name="outbox_queue"),
            models.Index(fields=["identity", "id"], name="outbox_per_identity"),
        ]
