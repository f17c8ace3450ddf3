"""The hash-chained audit log: append inside the action's transaction; verify from the command line.

Each event's hash is BLAKE2b keyed with the audit key (a file, not in the database) over the previous
hash and the event's canonical form, so a database thief can neither rewrite history nor forge a
consistent chain. Truncating the newest events is caught by comparing with the head row, and against
copies of the head kept outside the database (``anchors.py``: the worker's anchor file, or an
anchor written on paper).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from hotline.audit import anchors
from hotline.audit.models import AuditEvent, AuditHead
from hotline.core import crypto
from hotline.core.actor import Actor
from hotline.keyring import server_keys

GENESIS = bytes(32)


def _canonical(
    seq: int, at: datetime, actor: tuple[int | None, str, str], action: str, obj: tuple[str, str], details: Any
) -> bytes:
    return json.dumps(
        [seq, at.isoformat(timespec="microseconds"), *actor, action, *obj, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()


def _event_payload(e: AuditEvent) -> bytes:
    return _canonical(
        e.seq, e.at, (e.actor_id, e.actor_label, e.role), e.action, (e.object_type, e.object_id), e.details
    )


@dataclass(frozen=True)
class _Pending:
    actor: Actor
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    at: datetime


_local = threading.local()


def record(
    actor: Actor, action: str, object_type: str, object_id: object, details: dict[str, Any] | None = None
) -> None:
    """Append one event. Must run inside the transaction of the change it describes.

    Inside :func:`batch` the event is held and appended with the others when the batch ends (still
    inside the transaction); otherwise it is appended at once.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit events are recorded inside the action's transaction")
    event = _Pending(actor, action, object_type, str(object_id), details or {}, timezone.now())
    pending: list[_Pending] | None = getattr(_local, "pending", None)
    if pending is not None:
        pending.append(event)
    else:
        _append([event])


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Collect the events of a larger operation and chain them in one go at its end.

    The chain head is a single locked row; appending late and in one statement keeps it locked for
    the shortest time, which is what lets many conversations be stored concurrently. Use it inside
    the transaction, around the work: if the work raises, nothing is appended (and the transaction
    rolls back anyway).
    """
    if getattr(_local, "pending", None) is not None:
        yield  # nested: the outer batch appends
        return
    _local.pending = []
    try:
        yield
        events, _local.pending = _local.pending, None
        if events:
            _append(events)
    finally:
        _local.pending = None


@contextlib.contextmanager
def savepoint() -> Iterator[None]:
    """Inside :func:`batch`: the events recorded in this block are dropped if it raises (use it with
    the database savepoint that rolls back the change they describe)."""
    pending: list[_Pending] | None = getattr(_local, "pending", None)
    mark = len(pending) if pending is not None else 0
    try:
        yield
    except BaseException:
        if pending is not None:
            del pending[mark:]
        raise


def _append(events: list[_Pending]) -> None:
    """Chain ``events`` after the head and store them: three plain statements under the head's lock.

    Every action of every channel ends here, so it is written as SQL rather than through the ORM's
    query building (which cost more than the statements themselves); the columns are the models'.
    """
    key = server_keys.get().audit
    connection = transaction.get_connection()
    ops = connection.ops
    head_table, event_table = AuditHead._meta.db_table, AuditEvent._meta.db_table
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM {head_table} WHERE id = 1{lock}")  # noqa: S608 (model table names)
        row = cursor.fetchone()
        if row is None:  # the first event ever
            cursor.execute(
                f"INSERT INTO {head_table} (id, seq, hash) VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING",  # noqa: S608
                [GENESIS],
            )
            cursor.execute(f"SELECT seq, hash FROM {head_table} WHERE id = 1{lock}")  # noqa: S608
            row = cursor.fetchone()
        seq, prev = int(row[0]), bytes(row[1])
        rows = []
        for e in events:
            seq += 1
            actor = (e.actor.user_id, e.actor.label, e.actor.role.value)
            payload = _canonical(seq, e.at, actor, e.action, (e.object_type, e.object_id), e.details)
            digest = crypto.keyed_chain_hash(key, prev, payload)
            rows.append(
                (
                    seq,
                    ops.adapt_datetimefield_value(e.at),
                    *actor,
                    e.action,
                    e.object_type,
                    e.object_id,
                    json.dumps(e.details),
                    prev,
                    digest,
                )
            )
            prev = digest
        columns = "seq, at, actor_id, actor_label, role, action, object_type, object_id, details, prev_hash, hash"
        cursor.executemany(
            f"INSERT INTO {event_table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
            rows,
        )
        cursor.execute(f"UPDATE {head_table} SET seq = %s, hash = %s WHERE id = 1", [seq, prev])  # noqa: S608


@dataclass(frozen=True)
class Break:
    seq: int  # 0: a problem of the log as a whole
    problem: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.problem}" if self.seq else self.problem


@dataclass(frozen=True)
class Verification:
    checked: int
    head_seq: int
    breaks: list[Break]
    anchors: int = 0  # how many anchors the chain was checked against

    @property
    def ok(self) -> bool:
        return not self.breaks


def _events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)


def _is_set_up() -> bool:
    from hotline.keyring.models import Installation

    return Installation.objects.filter(id=1, org_public_key__isnull=False).exists()


def verify(extra_anchors: Sequence[anchors.Anchor] = (), *, anchor_file: bool = True) -> Verification:
    """Walk the chain from the first event and report every place it breaks.

    After a break the walk re-anchors on the stored hash, so one edited event is reported once and
    the events after it still get checked. Then the outside evidence: every anchor (the anchor file's
    and ``extra_anchors``) must name an event that is still there with the same hash, and an
    installation that was set up must still hold its setup event — so neither a wiped log nor one cut
    back to an earlier, self-consistent head passes.
    """
    key = server_keys.get().audit
    breaks: list[Break] = []
    given = list(extra_anchors)
    if anchor_file:
        kept = anchors.read()
        given = kept.anchors + given
        path = anchors.anchor_file()
        breaks.extend(Break(0, f"{path} line {n} is not an anchor (the file was edited)") for n in kept.unreadable)
    wanted: dict[int, list[anchors.Anchor]] = {}
    for anchor in given:
        wanted.setdefault(anchor.seq, []).append(anchor)
    expected_seq, prev, checked, saw_setup = 1, GENESIS, 0, False
    for event in _events():
        checked += 1
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                missing = f"{expected_seq}" if event.seq == expected_seq + 1 else f"{expected_seq}–{event.seq - 1}"
                breaks.append(Break(event.seq, f"events {missing} are missing (deleted)"))
            prev = bytes(event.prev_hash)
        if bytes(event.prev_hash) != prev:
            breaks.append(Break(event.seq, "does not link to the event before it (reordered or inserted)"))
        recomputed = crypto.keyed_chain_hash(key, bytes(event.prev_hash), _event_payload(event))
        if not crypto.constant_time_equal(recomputed, bytes(event.hash)):
            breaks.append(Break(event.seq, "content does not match its hash (edited)"))
        for anchor in wanted.pop(event.seq, []):
            if not crypto.constant_time_equal(bytes.fromhex(anchor.hash), bytes(event.hash)):
                breaks.append(Break(event.seq, f"does not match the anchor from {anchor.source} (rewritten)"))
        saw_setup = saw_setup or event.action == "keys.setup"
        prev = bytes(event.hash)
        expected_seq = event.seq + 1
    for seq in sorted(wanted):
        for anchor in wanted[seq]:
            breaks.append(Break(seq, f"is anchored ({anchor.source}) but missing from the log (truncated or deleted)"))
    head = AuditHead.objects.filter(id=1).first()
    head_seq = head.seq if head else 0
    if head_seq != expected_seq - 1:
        last = expected_seq - 1
        breaks.append(Break(head_seq, f"the chain head says {head_seq} events but the log ends at {last} (truncated)"))
    elif head is not None and head_seq and bytes(head.hash) != prev:
        breaks.append(Break(head_seq, "the chain head does not match the last event"))
    if not saw_setup and _is_set_up():
        breaks.append(Break(0, "the installation was set up but the log holds no setup event (the log was wiped)"))
    return Verification(checked=checked, head_seq=head_seq, breaks=breaks, anchors=len(given))


def head() -> tuple[int, str]:
    """The chain tip (sequence number and hash), for anchoring outside the database."""
    tip = AuditHead.objects.filter(id=1).first()
    return (tip.seq, bytes(tip.hash).hex()) if tip else (0, GENESIS.hex())


def anchor_head() -> tuple[int, str]:
    """Append the chain tip to the anchor file (the worker's job, and setup's); returns it."""
    seq, digest = head()
    anchors.append(seq, digest)
    return seq, digest
