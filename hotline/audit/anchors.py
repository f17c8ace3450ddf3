"""Anchors: copies of the audit chain's head kept outside the database.

The chain proves that no event in the middle was edited, deleted or reordered, but a thief who can
write the database can cut the newest events off and point the head row at the new last event: the
shorter chain is still consistent. An anchor — a sequence number and the hash the chain had there —
kept where the database thief cannot reach turns that into a reported truncation: the anchored event
must still be there, with the same hash.

Anchors come from two places:

* the **anchor file** (``HOTLINE_AUDIT_ANCHOR_FILE``, by default ``audit-anchors`` in the keys
  directory; mode 0600, one ``SEQ HASH TIME`` line each), appended by setup and by the worker's
  ``audit-anchor`` job, read by ``hotline audit verify``;
* anchors **kept on paper** or elsewhere, given to ``hotline audit verify --anchor SEQ:HASH``
  (``hotline audit anchor`` prints the current one).

Only sequence numbers and hashes are written: nothing about who did what.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

_LINE = re.compile(r"^(\d{1,19}) ([0-9a-f]{64})(?: (\S+))?$")
_TEXT = re.compile(r"^\s*(\d{1,19})\s*:\s*([0-9a-fA-F]{64})\s*$")


class AnchorError(ValueError):
    """An anchor that cannot be read (a typo in one given by hand)."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str  # hex
    source: str  # where it came from, for the report

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def anchor_file() -> Path:
    return Path(settings.HOTLINE_AUDIT_ANCHOR_FILE)


def parse(text: str, source: str = "--anchor") -> Anchor:
    """``SEQ:HASH`` as printed by ``hotline audit anchor`` (spaces and upper case are forgiven)."""
    match = _TEXT.match(text)
    if match is None:
        raise AnchorError(f"an anchor is SEQ:HASH, the sequence number and 64 hex digits (got {text[:80]!r})")
    return Anchor(int(match.group(1)), match.group(2).lower(), source)


@dataclass(frozen=True)
class AnchorFile:
    anchors: list[Anchor]
    unreadable: list[int]  # line numbers that are not anchors (the file was edited)


def read(path: Path | None = None) -> AnchorFile:
    path = path or anchor_file()
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return AnchorFile([], [])
    anchors: list[Anchor] = []
    unreadable: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            unreadable.append(number)
            continue
        anchors.append(Anchor(int(match.group(1)), match.group(2), f"{path.name}, line {number}"))
    return AnchorFile(anchors, unreadable)


def append(seq: int, digest: str, at: datetime | None = None, path: Path | None = None) -> bool:
    """Append one anchor (skipped when it repeats the last one); True if a line was written.

    One ``write`` of a short line to a file opened with ``O_APPEND`` lands whole even when two
    processes append at once; ``fsync`` makes it survive a crash of the machine.
    """
    if seq <= 0:
        return False
    path = path or anchor_file()
    existing = read(path).anchors
    if existing and existing[-1].seq == seq and existing[-1].hash == digest:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = (at or timezone.now()).isoformat(timespec="seconds")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{seq} {digest} {stamp}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
