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
    # The nonce of the parked event it was chained from (PostgreSQL, when the head was busy), else NULL.
    # Part of the hash, and unique, so a copy of a parked event put back after it was chained is refused.
    origin = models.BinaryField(null=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["origin"], condition=models.Q(origin__isnull=False), name="audit_event_unique_origin"
            )
        ]


class AuditHead(models.Model):
    """The chain's tip. Appending to the chain locks this row (see ``log._append``)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.BinaryField(default=bytes(32))


class AuditParked(models.Model):
    """An event whose transaction found the chain head busy (PostgreSQL only).

    It is written in that transaction, so it commits or rolls back with the change it describes, and
    it is chained by whoever next holds the head: the next transaction that appends, the worker, or
    ``hotline audit verify``. ``mac`` (under the audit key, over the nonce and the event) means a
    database thief can neither forge a parked event nor edit one; the nonce, kept as the chained
    event's ``origin``, means a copy of one cannot be chained twice.
    """

    id = models.BigAutoField(primary_key=True)  # order of parking: chained in this order
    nonce = models.BinaryField()
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=150)
    role = models.CharField(max_length=16)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    details = models.JSONField(default=dict)
    mac = models.BinaryField()
