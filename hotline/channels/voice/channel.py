"""The phone line as the case layer and the worker see it (``hotline.channels.base.Channel``)."""

from __future__ import annotations

from django.conf import settings

from hotline.cases.models import Case, Message
from hotline.channels.base import ChannelAdapter
from hotline.core.metadata import ChannelKind, DeliveryState


class VoiceChannel:
    kind = ChannelKind.PHONE.value

    def keep_reply(self, case: Case, message: Message, body: str) -> bool:
        return False

    def send_reply(self, case: Case, message: Message, body: str, *, kept: bool) -> DeliveryState:
        # Written on the phone channel: an operator says it on the next call (or a callback).
        return DeliveryState.QUEUED

    def keep_receipt(self, case: Case, receipt: str) -> None:
        return None

    def forget_case(self, case: Case) -> None:
        from .calls import forget_case

        forget_case(case)

    def adapter(self) -> ChannelAdapter | None:
        if not settings.VOICE_AUTH_TOKEN or not settings.VOICE_ACCOUNT_SID:
            return None
        from .adapter import VoiceAdapter  # the twilio client only where it is used

        return VoiceAdapter()
