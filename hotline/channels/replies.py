"""Routing an operator's reply to the channel the applicant uses.

Telegram replies are queued in the outbox; web-portal applicants read replies when they return with
their receipt; phone applicants hear them from an operator. A reply that no channel can deliver
right now stays ``queued`` on the case.
"""

from __future__ import annotations

from hotline.cases.models import Case, Message
from hotline.core.metadata import ChannelKind, DeliveryState


def queue_reply(case: Case, message: Message, body: str) -> DeliveryState:
    if message.channel == ChannelKind.TELEGRAM:
        from hotline.channels.telegram.outbound import queue_reply as telegram_reply

        if not telegram_reply(case, message, body):
            return DeliveryState.FAILED
    elif message.channel == ChannelKind.WEB:
        from hotline.channels.web.outbound import queue_reply as web_reply

        # Sealed into the receipt mailboxes now; "sent" means the applicant can read it with the receipt.
        return DeliveryState.SENT if web_reply(case, message, body) else DeliveryState.FAILED
    return DeliveryState.QUEUED
