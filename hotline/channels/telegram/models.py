from __future__ import annotations

from django.db import models


class ProcessedUpdate(models.Model):
    """Telegram update ids already stored, written in the same transaction as their effects, so a
    redelivered update is acknowledged without being processed twice."""

    update_id = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField(db_index=True)


class TelegramChat(models.Model):
    """Channel state of one Telegram chat: whether the person blocked the bot, when they last wrote,
    and the chat's inbound allowance (a token bucket: ``conversation.inbound_allowed``)."""

    identity = models.OneToOneField("cases.ChannelIdentity", on_delete=models.CASCADE, related_name="telegram")
    blocked_bot = models.BooleanField(default=False)
    last_activity = models.DateTimeField()
    inbound_tokens = models.FloatField(null=True)  # None: a full allowance
    inbound_at = models.DateTimeField(null=True)
    flood_dropped = models.PositiveIntegerField(default=0)  # updates dropped in the current flood


class ChatTrace(models.Model):
    """A message visible in a chat (either side), kept only until the bot deletes it from the phone.

    Telegram lets a bot delete both sides of a private chat for 48 hours; the wipe job deletes every
    traced message after the conversation goes idle, and always before that window closes.
    """

    identity = models.ForeignKey("cases.ChannelIdentity", on_delete=models.CASCADE, related_name="+")
    message_id = models.BigIntegerField()
    at = models.DateTimeField()
    wipe_queued = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["identity", "wipe_queued"], name="trace_identity")]


class PollingState(models.Model):
    """Long-polling offset: the last update id whose effects are committed."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_update_id = models.BigIntegerField(default=0)
