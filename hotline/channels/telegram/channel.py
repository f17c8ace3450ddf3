"""The Telegram channel as the case layer and the worker see it (``hotline.channels.base.Channel``)."""

from __future__ import annotations

from django.conf import settings

from hotline.cases.models import Case, Message
from hotline.channels.base import ChannelAdapter
from hotline.core.metadata import ChannelKind, DeliveryState


class TelegramChannel:
    kind = ChannelKind.TELEGRAM.value

    def keep_reply(self, case: Case, message: Message, body: str) -> bool:
        return False

    def send_reply(self, case: Case, message: Message, body: str, *, kept: bool) -> DeliveryState:
        from .outbound import queue_reply

        return DeliveryState.QUEUED if queue_reply(case, message, body) else DeliveryState.FAILED

    def keep_receipt(self, case: Case, receipt: str) -> None:
        return None

    def forget_case(self, case: Case) -> None:
        return None  # its rows go with the case's receipts and identities

    def adapter(self) -> ChannelAdapter | None:
        if not settings.TELEGRAM_BOT_TOKEN or settings.TELEGRAM_MODE == "off":
            return None
        from .adapter import TelegramAdapter  # aiogram is imported only where it is used

        return TelegramAdapter()
