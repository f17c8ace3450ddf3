"""Subscribers: Telegram chats that asked the bot for news, each in one language.

A subscriber is only its channel identity (blind index + chat id under the transport key) and a
language; nothing else is kept, and nothing is audited per person. Called by the bot's conversation
inside the update's transaction.
"""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from hotline import languages
from hotline.cases.models import ChannelIdentity

from .models import Subscriber


def subscription_of(identity: ChannelIdentity) -> Subscriber | None:
    return Subscriber.objects.filter(identity=identity).first()


def subscribe(identity: ChannelIdentity, language: str) -> str:
    """Subscribe in ``language``: ``"new"``, ``"changed"`` (another language before) or ``"same"``."""
    if language not in languages.codes():
        raise ValueError(f"not a news language: {language!r}")
    existing = subscription_of(identity)
    if existing is None:
        Subscriber.objects.create(identity=identity, language=language, created_at=timezone.now())
        return "new"
    if existing.language == language:
        return "same"
    Subscriber.objects.filter(pk=existing.pk).update(language=language)
    return "changed"


def unsubscribe(identity: ChannelIdentity) -> bool:
    """True if there was a subscription to end."""
    return Subscriber.objects.filter(identity=identity).delete()[0] > 0


def counts() -> dict[str, int]:
    """Subscribers per language (for the console's figures: counts only)."""
    rows = Subscriber.objects.values("language").annotate(n=Count("id")).values_list("language", "n")
    found = dict(rows)
    return {language: found.get(language, 0) for language in languages.codes()}
