"""The web channel as the case layer sees it (``hotline.channels.base.Channel``).

Every operator reply, whatever channel it is written on, is sealed into the case's receipt
mailboxes in the transaction that stores it, so an applicant who returns with the receipt — on the
website or on a new Telegram account — finds all of them. There is nothing to deliver later: a web
applicant reads replies when they come back with the receipt.
"""

from __future__ import annotations

from hotline.cases.models import Case, Message
from hotline.channels.base import ChannelAdapter
from hotline.core.metadata import ChannelKind, DeliveryState

from .mailbox import open_for_new_receipt, seal_reply


class WebChannel:
    kind = ChannelKind.WEB.value

    def keep_reply(self, case: Case, message: Message, body: str) -> bool:
        """True when at least one receipt mailbox got the reply; False when the applicant has no
        receipt (a form left before its end)."""
        return seal_reply(case, message.id, message.created_at, body) > 0

    def send_reply(self, case: Case, message: Message, body: str, *, kept: bool) -> DeliveryState:
        # "sent" means the applicant can read it with the receipt.
        return DeliveryState.SENT if kept else DeliveryState.FAILED

    def keep_receipt(self, case: Case, receipt: str) -> None:
        open_for_new_receipt(case, receipt)

    def forget_case(self, case: Case) -> None:
        return None  # its rows go with the case's receipts and identities

    def adapter(self) -> ChannelAdapter | None:
        return None
