"""Posts, their texts per language, where each was published, subscribers, and broadcasts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Post(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"  # published by the worker at publish_at
        PUBLISHED = "published"
        DELETED = "deleted"  # taken down from the channels

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=120)  # for the console's list only; never sent
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    publish_at = models.DateTimeField(null=True, db_index=True)
    image = models.BinaryField(null=True)
    image_mime = models.CharField(max_length=32, blank=True)
    version = models.PositiveIntegerField(default=1)  # bumped by every edit
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True)


class PostText(models.Model):
    """The post in one language (Telegram's HTML subset)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=8)
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "language"], name="post_text_unique_language")]


class PostMessage(models.Model):
    """A post as it stands in one Telegram channel: its message id there, and which version it shows."""

    class State(models.TextChoices):
        PENDING = "pending"  # queued in the outbox
        SENT = "sent"
        DELETED = "deleted"
        FAILED = "failed"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=64)  # @username or -100… chat id of the channel (public)
    language = models.CharField(max_length=8)
    message_id = models.BigIntegerField(null=True)
    version = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "channel", "language"], name="post_message_unique")]


class Subscriber(models.Model):
    """A Telegram chat that asked the bot for news, in one language."""

    identity = models.OneToOneField("cases.ChannelIdentity", on_delete=models.CASCADE, related_name="subscription")
    language = models.CharField(max_length=8, db_index=True)
    created_at = models.DateTimeField()


class Broadcast(models.Model):
    """A post sent to every subscriber of one language, one outbox row per subscriber."""

    class State(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"
        CANCELLED = "cancelled"
        DONE = "done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="broadcasts")
    language = models.CharField(max_length=8)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)  # the subscriber had blocked the bot: unsubscribed
    expire_hours = models.PositiveSmallIntegerField(null=True)  # deleted from every chat after this
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)


class BroadcastTrace(models.Model):
    """A broadcast message in a subscriber's chat that the bot deletes when it expires."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey("cases.ChannelIdentity", on_delete=models.CASCADE, related_name="+")
    message_id = models.BigIntegerField()
    delete_after = models.DateTimeField(db_index=True)
    delete_queued = models.BooleanField(default=False)
