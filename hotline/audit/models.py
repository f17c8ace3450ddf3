from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object, when. Never content.

    ``seq`` numbers events without gaps; ``hash`` chains each event to the one before under the audit
    key, so an edited, deleted or reordered event breaks the chain (``hotline audit verify``).
    """

    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=150)
    role = models.CharField(max_length=16)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, db_index=True)
    details = models.JSONField(default=dict)
    prev_hash = models.BinaryField()
    hash = models.BinaryField()

    class Meta:
        ordering = ["seq"]


class AuditHead(models.Model):
    """The chain's tip. Appending locks this row, which serialises appends on every database."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.BinaryField(default=bytes(32))
