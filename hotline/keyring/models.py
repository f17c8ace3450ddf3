from __future__ import annotations

from django.conf import settings
from django.db import models


class Installation(models.Model):
    """The one row that describes this installation's keys.

    ``org_public_key`` is public; the organisation private key exists here only wrapped under the
    recovery key (and per staff member in :class:`StaffKeyWrap`). ``server_key_ids`` records which
    key files the data was written with, so a server started with the wrong key directory refuses to
    run instead of writing data nobody can read.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    server_key_ids = models.JSONField(default=dict)
    org_public_key = models.BinaryField(null=True)
    org_recovery_wrap = models.BinaryField(null=True)
    org_created_at = models.DateTimeField(null=True)


class StaffKeyWrap(models.Model):
    """The organisation private key wrapped under Argon2id(one staff member's password)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_wrap")
    salt = models.BinaryField()
    opslimit = models.PositiveIntegerField()
    memlimit = models.PositiveBigIntegerField()
    ciphertext = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)
