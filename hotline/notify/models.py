"""Each staff member's notification switches, and the Telegram account they linked for them.

A notification says only that something arrived ("2 new cases"): never content, a name or a case
number. The linked Telegram chat id is under the transport key like any channel address; only the
blind index of a pending link code is stored, never the code.

Only ``notify/actions.py`` writes these rows.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class NotificationSettings(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    in_console = models.BooleanField(default=False)  # browser notification and a sound
    by_telegram = models.BooleanField(default=False)  # a message to the linked Telegram account
    # The console language the person chose when they last saved: Telegram messages are written in it.
    language = models.CharField(max_length=8, default="en")
    telegram_chat_enc = models.BinaryField(null=True)  # the chat id, under the transport key
    telegram_linked_at = models.DateTimeField(null=True)
    # A one-time code the person sends to the bot (/start CODE): its blind index, until it is used.
    link_code_index = models.BinaryField(null=True, unique=True)
    link_code_expires = models.DateTimeField(null=True)
    # What the Telegram job has already reported: signals up to this moment are counted.
    telegram_cursor = models.DateTimeField(null=True)
    telegram_sent_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    @property
    def telegram_linked(self) -> bool:
        return self.telegram_chat_enc is not None
