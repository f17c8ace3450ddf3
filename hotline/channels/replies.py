"""Routing an operator's reply to the channel the applicant uses.

Every reply is first sealed into the case's receipt mailboxes, whatever the channel, so an applicant
who returns with the receipt — on the website or on a new Telegram account — finds all of them. Then
Telegram replies are queued in the outbox; web-portal applicants read replies when they return with
their receipt; phone applicants hear them from an operator. A reply that no channel can deliver
right now stays ``queued`` on the case.
"""

from __future__ import annotations

from hotline.cases.models import Case, Message
from hotline.core.metadata import ChannelKind, DeliveryState


def queue_reply(case: Case, message: Message, body: str) -> DeliveryState:
    from hotline.channels.web.outbound import queue_reply as web_reply

    in_mailbox = web_reply(case, message, body)
    if message.channel == ChannelKind.TELEGRAM:
        from hotline.channels.telegram.outbound import queue_reply as telegram_reply

        if not telegram_reply(case, message, body):
            return DeliveryState.FAILED
    elif message.channel == ChannelKind.WEB:
        # Sealed into the receipt mailboxes now; "sent" means the applicant can read it with the receipt.
        return DeliveryState.SENT if in_mailbox else DeliveryState.FAILED
    return DeliveryState.QUEUED
