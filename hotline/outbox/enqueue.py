"""Putting work in the outbox: call inside the transaction of the change that causes it."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from hotline.cases.models import ChannelIdentity, Message
from hotline.keyring.transport_fields import open_field, seal_field
from hotline.outbox.models import OutboxMessage, Priority


def enqueue(
    channel: str,
    kind: str,
    payload: dict[str, Any],
    *,
    identity: ChannelIdentity | None,
    message: Message | None = None,
    priority: Priority = Priority.REPLY,
) -> OutboxMessage:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox rows are written in the transaction of the change that causes them")
    now = timezone.now()
    row = OutboxMessage(
        channel=channel,
        kind=kind,
        identity=identity,
        message=message,
        priority=priority,
        not_before=now,
        created_at=now,
    )
    row.payload_enc = seal_field(row, "payload_enc", json.dumps(payload, ensure_ascii=False))
    row.save(force_insert=True)
    return row


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    data = json.loads(open_field(row, "payload_enc"))
    assert isinstance(data, dict)
    return data
