"""Operator replies to a Telegram applicant: queued in the outbox for the chat they last used."""

from __future__ import annotations

from hotline.cases.models import Case, ChannelIdentity
from hotline.cases.models import Message as CaseMessage
from hotline.core.metadata import ChannelKind
from hotline.core.text import split_message
from hotline.keyring.transport_fields import open_field
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority


def reachable_identity(case: Case) -> ChannelIdentity | None:
    """The applicant's Telegram chat that can still receive messages, most recently active first."""
    if case.applicant_id is None:
        return None
    return (
        ChannelIdentity.objects.filter(
            applicant_id=case.applicant_id, kind=ChannelKind.TELEGRAM, blocked=False, telegram__blocked_bot=False
        )
        .order_by("-telegram__last_activity")
        .first()
    )


def queue_reply(case: Case, message: CaseMessage, body: str) -> bool:
    """Queue ``body`` for the applicant; False if no Telegram chat of theirs can receive it."""
    identity = reachable_identity(case)
    if identity is None:
        return False
    chat_id = int(open_field(identity, "address_enc"))
    parts = split_message(body)
    for i, part in enumerate(parts):
        enqueue(
            "telegram",
            "send",
            {"chat_id": chat_id, "text": part},
            identity=identity,
            message=message if i == len(parts) - 1 else None,
            priority=Priority.REPLY,
        )
    return True
