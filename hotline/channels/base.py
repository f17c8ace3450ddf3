"""The contract every channel keeps (telegram, web, voice, …), and the one way the case layer reaches one.

Each channel app registers a :class:`Channel` when Django starts (its ``AppConfig.ready``). The case
layer never imports a channel: an operator's reply goes through :func:`route_reply`, and the worker
asks :func:`registered` for the outbound adapters. So the imports only ever point from a channel
to the case layer, never back.

Inbound, a channel turns a provider's request into core inputs; outbound, its adapter delivers
outbox items and says how a failure should be treated through one error type. Library code
(aiogram, twilio) stays inside the channel's package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hotline.core.metadata import DeliveryState

if TYPE_CHECKING:
    from hotline.cases.models import Case, Message


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
        """Do it; return what the provider said (e.g. message ids), or raise ChannelError.

        Runs on one of the worker's sender threads, many at once: it must not touch the database.
        An adapter that needs data from the database defines ``prepare(item) -> OutboundItem``, which
        the worker calls in its own thread before handing the item over (put the data in ``extra``).
        An adapter may also define ``on_given_up(item)``: the outbox stopped retrying the item."""
        ...

    def after_delivery(self, item: OutboundItem, result: dict[str, Any], message_id: object | None) -> None:
        """Record what the delivery produced, in the transaction that removes the outbox row."""
        ...

    def on_recipient_gone(self, identity_id: str) -> None:
        """The recipient will never receive anything again (blocked the bot)."""
        ...


def redact(payload: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in keys else v) for k, v in payload.items()}


class Channel(Protocol):
    """One channel as the case layer and the worker see it."""

    kind: str

    def keep_reply(self, case: Case, message: Message, body: str) -> bool:
        """Every channel sees every operator reply, in the transaction that stores it (the web channel
        seals a copy into the receipt mailboxes). True when a copy was kept for the applicant."""
        ...

    def send_reply(self, case: Case, message: Message, body: str, *, kept: bool) -> DeliveryState:
        """Queue a reply written on this channel; say what state the message is in now."""
        ...

    def keep_receipt(self, case: Case, receipt: str) -> None:
        """A receipt was just issued for the case (in that transaction), on whatever channel."""
        ...

    def forget_case(self, case: Case) -> None:
        """The case is being erased (in that transaction): drop whatever the channel keeps about it."""
        ...

    def adapter(self) -> ChannelAdapter | None:
        """The worker's outbound adapter, or None when the channel is not configured."""
        ...


_channels: dict[str, Channel] = {}


def register(channel: Channel) -> None:
    _channels[channel.kind] = channel


def registered() -> list[Channel]:
    return list(_channels.values())


def receipt_issued(case: Case, receipt: str) -> None:
    for channel in _channels.values():
        channel.keep_receipt(case, receipt)


def case_erased(case: Case) -> None:
    for channel in _channels.values():
        channel.forget_case(case)


def route_reply(case: Case, message: Message, body: str) -> DeliveryState:
    """An operator's reply: every channel may keep a copy, then the message's own channel sends it.

    A reply that no channel can deliver right now stays ``queued`` on the case.
    """
    kept = False
    for channel in _channels.values():
        kept = channel.keep_reply(case, message, body) or kept
    own = _channels.get(str(message.channel))
    if own is None:
        return DeliveryState.QUEUED
    return own.send_reply(case, message, body, kept=kept)
