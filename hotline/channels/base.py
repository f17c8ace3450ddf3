"""The contract every channel adapter keeps (telegram, web, voice, …).

Inbound, an adapter turns a provider's request into core inputs; outbound, it delivers outbox items
and says how a failure should be treated through one error type. Library code (aiogram, twilio)
stays inside the adapter's package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ChannelError(Exception):
    """A delivery that did not happen.

    * ``permanent`` — retrying cannot help (bad request, message too long): drop the item;
    * ``retry_after`` — the provider asked us to wait this many seconds before writing to this chat;
    * ``recipient_gone`` — the person blocked the bot or deleted the account: stop writing to them;
    * otherwise the failure is transient and the item is retried with backoff.
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None, recipient_gone: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent or recipient_gone
        self.retry_after = retry_after
        self.recipient_gone = recipient_gone


@dataclass(frozen=True)
class OutboundItem:
    """One outbox row as the adapter sees it: what to do, for whom, with which payload."""

    kind: str
    payload: dict[str, Any]
    identity_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    kind: str
    # Payload keys that must never be logged (message text, chat ids, phone numbers, file ids).
    redact_keys: frozenset[str]
    # Outbox kinds subject to the send rates: per channel (messages per second) and per chat.
    paced_kinds: frozenset[str]
    rate_per_second: float
    chat_interval: float

    def deliver(self, item: OutboundItem) -> dict[str, Any]:
        """Do it; return what the provider said (e.g. message ids), or raise ChannelError."""
        ...

    def after_delivery(self, item: OutboundItem, result: dict[str, Any], message_id: object | None) -> None:
        """Record what the delivery produced, in the transaction that removes the outbox row."""
        ...

    def on_recipient_gone(self, identity_id: str) -> None:
        """The recipient will never receive anything again (blocked the bot)."""
        ...


def redact(payload: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in keys else v) for k, v in payload.items()}
