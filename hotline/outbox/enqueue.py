"""Putting work in the outbox: call inside the transaction of the change that causes it."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from hotline import rows
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
) -> None:
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
    rows.add_all([row])  # its id is not needed: skip reading it back


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    data = json.loads(open_field(row, "payload_enc"))
    assert isinstance(data, dict)
    return data
