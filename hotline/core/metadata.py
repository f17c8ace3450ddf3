"""The plaintext metadata a case carries: coarse enough to count, never enough to identify."""

from __future__ import annotations

from enum import StrEnum


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"
    WEB = "web"
    PHONE = "phone"


class Category(StrEnum):
    """Who is writing."""

    SERVICEMAN = "serviceman"
    MOBILIZED = "mobilized"
    AWAITING_MOBILIZATION = "awaiting_mobilization"
    RELATIVE = "relative"
    OCCUPIED_RESIDENT = "occupied_resident"
    OTHER = "other"
    UNKNOWN = "unknown"


class Region(StrEnum):
    RUSSIA = "russia"
    CRIMEA = "crimea"
    OCCUPIED_OTHER = "occupied_other"
    BELARUS = "belarus"
    OTHER = "other"
    UNKNOWN = "unknown"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# Lowest first: a raise moves right, the queue serves from the right.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.NORMAL, Priority.HIGH, Priority.URGENT)


def priority_rank(priority: str) -> int:
    """0 for normal, 1 for high, 2 for urgent (an unknown value counts as normal)."""
    try:
        return PRIORITY_ORDER.index(Priority(priority))
    except ValueError:
        return 0


class PriorityReason(StrEnum):
    """Why a case's priority changed: codes from this list only, never free text, because they are
    stored in clear (the audit log) and free text could carry what the applicant said."""

    WOUNDED = "wounded"
    TALK_TO_PERSON = "talk_to_person"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    MISSED_CALL = "missed_call"
    DEADLINE = "deadline"
    SAFETY_RISK = "safety_risk"
    RESOLVED = "resolved"
    OTHER = "other"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class DeliveryState(StrEnum):
    RECEIVED = "received"  # inbound, stored
    QUEUED = "queued"  # outbound, waiting in the outbox
    SENT = "sent"
    FAILED = "failed"
