"""Receipt mailboxes: operator replies to web applicants, readable with the receipt and nothing else.

A mailbox belongs to one receipt. Its X25519 public key is derived from the receipt (which is never
stored) and the server's index key; replies are sealed to it. Reading needs the receipt, so a copy
of the database, even with the key files, reads nothing. Both rows go when the receipt goes
(crypto-shredding deletes a case's receipts and messages).
"""

from __future__ import annotations

import uuid

from django.db import models


class Mailbox(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    receipt = models.OneToOneField("cases.Receipt", on_delete=models.CASCADE, related_name="mailbox")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    public_key = models.BinaryField()
    created_at = models.DateTimeField()


class MailboxMessage(models.Model):
    """A copy of one operator reply, sealed to the mailbox key (bound to this row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    message = models.ForeignKey("cases.Message", on_delete=models.CASCADE, related_name="+")
    body_sealed = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["mailbox", "created_at"], name="mailbox_messages")]
