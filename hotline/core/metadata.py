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


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class DeliveryState(StrEnum):
    RECEIVED = "received"  # inbound, stored
    QUEUED = "queued"  # outbound, waiting in the outbox
    SENT = "sent"
    FAILED = "failed"
