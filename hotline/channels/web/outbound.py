"""An operator's reply to a web applicant: sealed into the case's receipt mailboxes.

Called from ``hotline.channels.replies.queue_reply`` inside the transaction that stores the reply, so
the mailbox copy exists if and only if the reply does. There is nothing to deliver later: the
applicant reads it when they come back with the receipt.
"""

from __future__ import annotations

from hotline.cases.models import Case, Message

from .mailbox import seal_reply


def queue_reply(case: Case, message: Message, body: str) -> bool:
    """True when at least one receipt mailbox got the reply; False when the applicant has no receipt
    (a form left before its end), so nobody could ever read it on the web."""
    return seal_reply(case, message.id, message.created_at, body) > 0
