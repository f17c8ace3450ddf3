"""The case store. What is in clear here is only what queues and statistics need; everything else is
sealed to the case key (``*_sealed``) or encrypted under the transport key (``*_enc``).

Only ``cases/actions.py`` writes these rows.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from django.conf import settings
from django.db import models

from hotline.core.lifecycle import RejectReason, Status
from hotline.core.metadata import Category, ChannelKind, DeliveryState, Direction, Priority, Region


def _choices(members: type[StrEnum]) -> list[tuple[str, str]]:
    return [(m.value, m.value) for m in members]


class Applicant(models.Model):
    """A person who contacted the hotline, known only by a random pseudonym."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    pseudonym = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField()


class ChannelIdentity(models.Model):
    """One way to reach an applicant (a Telegram chat, a phone number, a web session).

    ``address_index`` is a keyed blind index for lookups; ``address_enc`` is the address under the
    transport key, bound to this row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    applicant = models.ForeignKey(Applicant, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=_choices(ChannelKind))
    address_index = models.BinaryField()
    address_enc = models.BinaryField()
    blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "address_index"], name="identity_unique_address")]


class Case(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    applicant = models.ForeignKey(Applicant, null=True, on_delete=models.SET_NULL, related_name="cases")
    status = models.CharField(max_length=16, choices=_choices(Status), default=Status.NEW)
    reject_reason = models.CharField(max_length=8, choices=_choices(RejectReason), blank=True)
    priority = models.CharField(max_length=8, choices=_choices(Priority), default=Priority.NORMAL)
    channel = models.CharField(max_length=16, choices=_choices(ChannelKind))
    language = models.CharField(max_length=8, blank=True)
    category = models.CharField(max_length=32, choices=_choices(Category), default=Category.UNKNOWN)
    region = models.CharField(max_length=32, choices=_choices(Region), default=Region.UNKNOWN)
    group_size = models.PositiveSmallIntegerField(default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_cases"
    )
    public_key = models.BinaryField()
    # The case private key sealed to the organisation key. NULL once crypto-shredded.
    sealed_private_key = models.BinaryField(null=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, db_index=True)
    shredded_at = models.DateTimeField(null=True)
    # When the hotline's first outbound message on the case was written: the end of its wait for a
    # first answer (cases/targets.py, the figures' time to first answer). NULL while unanswered.
    first_answer_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="case_queue")]

    @property
    def is_shredded(self) -> bool:
        return self.sealed_private_key is None


class Answer(models.Model):
    """One intake answer (e.g. ``identity_details``), sealed to the case key. The field name is a
    flow step id, never content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="answers")
    field = models.CharField(max_length=64)
    value_sealed = models.BinaryField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "field"], name="answer_unique_field")]


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=4, choices=_choices(Direction))
    channel = models.CharField(max_length=16, choices=_choices(ChannelKind))
    body_sealed = models.BinaryField()
    delivery_state = models.CharField(max_length=16, choices=_choices(DeliveryState))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(db_index=True)
    # Messages from a channel identity flagged as a probe or spam are kept but not shown in the queue.
    quarantined = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at"]


class Note(models.Model):
    """An operator's note on a case, sealed like everything else."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body_sealed = models.BinaryField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]


class Attachment(models.Model):
    """A file the applicant sent (photo, voice, document, location, contact), sealed whole.

    ``kind`` and ``size`` are plaintext (for display and limits); the bytes and the description
    (file name, MIME type, coordinates) are sealed to the case key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=16)
    size = models.PositiveIntegerField()
    meta_sealed = models.BinaryField()
    content_sealed = models.BinaryField()
    created_at = models.DateTimeField()


class Receipt(models.Model):
    """The applicant's way back in, stored only as its keyed blind index."""

    index = models.BinaryField(unique=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="receipts")
    created_at = models.DateTimeField()


class CaseNumber(models.Model):
    """Short application numbers for staff ("application 1042"): the auto-increment id is the number."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="number")


# --- console: triage state (written only by ``cases/triage.py``) ------------------------------------


class Tag(models.Model):
    """A label from a list the supervisors keep. Tags are plaintext (queues and statistics use them),
    so they come from this vocabulary, never from free text typed on a case."""

    name = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]


class CaseTag(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="case_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "tag"], name="case_tag_unique")]


class CaseGroup(models.Model):
    """Applicants who will surrender together: their cases are linked, each keeps its own keys."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = models.DateTimeField()


class CaseGroupMember(models.Model):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="group_membership")
    group = models.ForeignKey(CaseGroup, on_delete=models.CASCADE, related_name="members")


class CannedReply(models.Model):
    """A prepared answer operators insert into the reply box. Organisation text, not case content."""

    title = models.CharField(max_length=80)
    language = models.CharField(max_length=8, blank=True)
    body = models.TextField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["language", "title"]


class HandoffOutcome(models.Model):
    """What a coordinator recorded at a handoff step. The outcome is a coarse code (for statistics);
    anything more goes into a sealed note."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted"
        RETURNED = "returned"
        COMPLETED = "completed"
        FAILED = "failed"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="handoff_outcomes")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at"]


# --- derived counts for the figures (written only by ``cases/status_counts.py``) --------------------


class StatusChange(models.Model):
    """One step of the count of cases per (day opened, status): +1 for a case opened or moved into
    ``status``, -1 for a case moved out of it. Appended in the same transaction as the change, never
    updated, so opening cases concurrently contends on no shared row; the worker folds these rows into
    :class:`StatusDay` and deletes them."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    status = models.CharField(max_length=16)
    delta = models.SmallIntegerField()


class StatusDay(models.Model):
    """How many of the cases opened on ``day`` are in ``status`` now (with the unfolded
    :class:`StatusChange` rows added)."""

    day = models.DateField()
    status = models.CharField(max_length=16)
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "status"], name="status_day_unique")]
