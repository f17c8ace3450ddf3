"""Putting work in the outbox: call inside the transaction of the change that causes it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from hotline import rows
from hotline.cases.models import ChannelIdentity, Message
from hotline.keyring.transport_fields import open_field, seal_value
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
    ref = uuid.uuid4()
    # Nothing reads the outbox before the commit but the worker, afterwards: in a group commit the
    # batch's rows go in together (rows.collected).
    rows.insert_later(
        OutboxMessage,
        {
            "ref": ref,
            "channel": channel,
            "kind": kind,
            "identity_id": identity.pk if identity is not None else None,
            "message_id": message.pk if message is not None else None,
            "priority": int(priority),
            "payload_enc": seal_value(OutboxMessage, "payload_enc", ref, json.dumps(payload, ensure_ascii=False)),
            "not_before": now,
            "claimed_until": None,
            "attempts": 0,
            "last_error": "",
            "created_at": now,
        },
    )


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    data = json.loads(open_field(row, "payload_enc"))
    assert isinstance(data, dict)
    return data
