"""Calls, operators' lines and duty, callback requests.

Nothing here holds a caller's number: the caller is a ``ChannelIdentity`` of kind ``phone`` (a blind
index and the number under the transport key), and provider ids (CallSid, RecordingSid) are kept
only as blind indexes, to recognise a retried webhook. An operator's own number or SIP address is
under the transport key too.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Call(models.Model):
    """One call on the hotline's number (``in``) or one callback leg we placed (``callback``)."""

    class State(models.TextChoices):
        MENU = "menu"  # the caller is in the voice menu
        RINGING = "ringing"  # operators on duty are being rung
        TALKING = "talking"  # an operator answered
        RECORDING = "recording"  # leaving a voicemail
        ENDED = "ended"

    class Outcome(models.TextChoices):
        ANSWERED = "answered"
        MISSED = "missed"  # asked for an operator, nobody answered, no message left
        VOICEMAIL = "voicemail"
        CALLBACK = "callback"  # asked to be called back
        INFORMED = "informed"  # listened to the menu only: no case is opened

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    sid_index = models.BinaryField(unique=True)
    identity = models.ForeignKey("cases.ChannelIdentity", null=True, on_delete=models.SET_NULL, related_name="+")
    case = models.ForeignKey("cases.Case", null=True, on_delete=models.SET_NULL, related_name="calls")
    language = models.CharField(max_length=8, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.MENU)
    wanted_operator = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recording_index = models.BinaryField(null=True, unique=True)
    voicemail = models.ForeignKey("cases.Message", null=True, on_delete=models.SET_NULL, related_name="+")
    # Where the voicemail recording is: "" none, fetching (still at the provider), sealed (in the case,
    # still at the provider), deleted (deleted at the provider and checked gone).
    recording = models.CharField(max_length=16, blank=True)
    started_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)
    duration = models.PositiveIntegerField(null=True)  # seconds, as the provider reports
    talk_seconds = models.PositiveIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["state", "started_at"], name="voice_call_state")]


class OperatorLine(models.Model):
    """Where an operator takes calls (a phone number or a SIP address), and whether they are on duty."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_line")
    address_enc = models.BinaryField()
    hint = models.CharField(max_length=8)  # the last characters, so its owner recognises it
    on_duty = models.BooleanField(default=False)
    changed_at = models.DateTimeField()


class Callback(models.Model):
    """A caller's request to be called back, and what became of it."""

    class State(models.TextChoices):
        REQUESTED = "requested"
        CALLING = "calling"  # the provider is ringing the operator, then the caller
        DONE = "done"
        FAILED = "failed"  # nobody picked up; it can be tried again

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="callbacks")
    identity = models.ForeignKey("cases.ChannelIdentity", null=True, on_delete=models.SET_NULL, related_name="+")
    call = models.OneToOneField(Call, null=True, on_delete=models.SET_NULL, related_name="callback")
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_result = models.CharField(max_length=32, blank=True)
    requested_at = models.DateTimeField()
    updated_at = models.DateTimeField()
