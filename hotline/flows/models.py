from __future__ import annotations

import uuid

from django.db import models


class FlowDefinition(models.Model):
    """Every version of every flow file this installation has run, so a conversation started on
    version N finishes on version N even after the file moved on. Flow texts are not secret."""

    flow_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    source = models.TextField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow_id", "version"], name="flow_version_unique")]


class FlowSession(models.Model):
    """Where one channel identity is in a flow. The state (step, language, history) is under the
    transport key; it never holds answers, which go straight to the case, sealed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    identity = models.OneToOneField("cases.ChannelIdentity", on_delete=models.CASCADE, related_name="flow_session")
    case = models.ForeignKey("cases.Case", null=True, on_delete=models.SET_NULL, related_name="+")
    state_enc = models.BinaryField()
    updated_at = models.DateTimeField()
