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
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from hotline.audit import anchors
from hotline.audit.models import AuditEvent, AuditHead, AuditParked
from hotline.core import crypto
from hotline.core.actor import Actor
from hotline.keyring import server_keys

GENESIS = bytes(32)


def _canonical(
    seq: int,
    at: datetime,
    actor: tuple[int | None, str, str],
    action: str,
    obj: tuple[str, str],
    details: Any,
    origin: bytes | None = None,
) -> bytes:
    fields = [seq, at.isoformat(timespec="microseconds"), *actor, action, *obj, details]
    if origin is not None:  # events chained straight away keep the form they always had
        fields.append(origin.hex())
    return json.dumps(
        fields,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()


def _event_payload(e: AuditEvent) -> bytes:
    origin = bytes(e.origin) if e.origin is not None else None
    return _canonical(
        e.seq, e.at, (e.actor_id, e.actor_label, e.role), e.action, (e.object_type, e.object_id), e.details, origin
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
    """Chain ``events`` after the head, or park them when another transaction holds the head.

    Appending to the chain locks the head row until the transaction commits. On SQLite, which has one
    writer anyway, that is simply the order of the writes. On PostgreSQL a transaction that would have
    to wait for the head (another one appended and has not committed yet) parks its events instead
    (:class:`AuditParked`, in its own transaction, under a MAC) and commits without waiting; the
    transaction that next takes the head chains every parked event it can see, oldest first (its own
    parked events too, so one transaction's events keep their order), then its own. So no transaction
    waits for another's commit, an event exists exactly when its transaction committed, and the chain
    stays one chain with no gaps.

    Every action of every channel ends here, so it is written as SQL rather than through the ORM's
    query building (which cost more than the statements themselves); the columns are the models'.
    """
    connection = transaction.get_connection()
    parking = connection.features.has_select_for_update_skip_locked
    rows = [_Row.of(e) for e in events]
    with connection.cursor() as cursor:
        tip = _take_head(cursor, wait=not parking)
        if tip is None:
            _park(cursor, rows)
            return
        seq, prev, some_parked = tip
        if some_parked:
            seq, prev = _chain_parked(cursor, seq, prev)
        _chain(cursor, seq, prev, rows)


@dataclass(frozen=True)
class _Row:
    """An event as stored: the actor as its three columns."""

    at: datetime
    actor: tuple[int | None, str, str]
    action: str
    object_type: str
    object_id: str
    details: Any
    origin: bytes | None = None  # the nonce of the parked event it comes from

    @classmethod
    def of(cls, e: _Pending) -> _Row:
        actor = (e.actor.user_id, e.actor.label, e.actor.role.value)
        return cls(e.at, actor, e.action, e.object_type, e.object_id, e.details)


def _take_head(cursor: Any, *, wait: bool) -> tuple[int, bytes, bool] | None:
    """Lock the head row and return the tip, and whether there may be parked events to chain (always
    False on SQLite, which parks none); None if ``wait`` is false and another transaction holds it."""
    connection = transaction.get_connection()
    head_table = AuditHead._meta.db_table
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    skip = "" if wait or not connection.features.has_select_for_update_skip_locked else " SKIP LOCKED"
    # Whether anything is parked comes with the tip, in the same round trip.
    parked = (
        f"EXISTS (SELECT 1 FROM {AuditParked._meta.db_table})"  # noqa: S608
        if connection.features.has_select_for_update_skip_locked
        else "0"
    )
    sql = f"SELECT seq, hash, {parked} FROM {head_table} WHERE id = 1{lock}{skip}"  # noqa: S608 (model table names)
    if not skip:  # waiting for the head, or SQLite (where nothing else can hold it)
        cursor.execute(sql)
        row = cursor.fetchone()
    else:
        # One round trip says both whether the head could be taken and, if not, whether there is one
        # (held by another transaction) or none yet: the locking read in a subquery that may come
        # back empty, and a plain read of whether the row exists.
        cursor.execute(
            f"SELECT head.seq, head.hash, {parked}, EXISTS (SELECT 1 FROM {head_table} WHERE id = 1) "  # noqa: S608
            f"FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM {head_table} "
            f"WHERE id = 1{lock}{skip}) AS head ON TRUE"
        )
        found = cursor.fetchone()
        if found[0] is not None:
            return int(found[0]), bytes(found[1]), bool(found[2])
        if found[3]:
            return None  # there is a head, and another transaction holds it
        row = None
    if row is None:
        # The first event ever.
        cursor.execute(
            f"INSERT INTO {head_table} (id, seq, hash) VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING",  # noqa: S608
            [GENESIS],
        )
        cursor.execute(sql.replace(skip, "") if skip else sql)
        row = cursor.fetchone()
    return int(row[0]), bytes(row[1]), bool(row[2])


def _chain(cursor: Any, seq: int, prev: bytes, events: list[_Row]) -> tuple[int, bytes]:
    """Store ``events`` after the tip ``seq``/``prev`` and move the head (the caller holds its lock);
    returns the new tip."""
    if not events:
        return seq, prev
    key = server_keys.get().audit
    ops = transaction.get_connection().ops
    rows = []
    for e in events:
        seq += 1
        payload = _canonical(seq, e.at, e.actor, e.action, (e.object_type, e.object_id), e.details, e.origin)
        digest = crypto.keyed_chain_hash(key, prev, payload)
        rows.append(
            (
                seq,
                ops.adapt_datetimefield_value(e.at),
                *e.actor,
                e.action,
                e.object_type,
                e.object_id,
                json.dumps(e.details),
                prev,
                digest,
                e.origin,
            )
        )
        prev = digest
    event_table, head_table = AuditEvent._meta.db_table, AuditHead._meta.db_table
    columns = "seq, at, actor_id, actor_label, role, action, object_type, object_id, details, prev_hash, hash, origin"
    cursor.executemany(
        f"INSERT INTO {event_table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
        rows,
    )
    cursor.execute(f"UPDATE {head_table} SET seq = %s, hash = %s WHERE id = 1", [seq, prev])  # noqa: S608
    return seq, prev


# --- parked events (PostgreSQL) ------------------------------------------------------------------

_PARKED = b"hotline-audit-parked"
# Parked events one holder of the head chains at most (more wait for the next holder).
CHAIN_PARKED_AT_ONCE = 1000


def _parked_mac(key: bytes, nonce: bytes, e: _Row) -> bytes:
    payload = _canonical(0, e.at, e.actor, e.action, (e.object_type, e.object_id), e.details, nonce)
    return crypto.keyed_chain_hash(key, _PARKED, payload)


def _park(cursor: Any, events: list[_Row]) -> None:
    """Store ``events`` as parked, each under a fresh nonce and a MAC (one statement)."""
    key = server_keys.get().audit
    ops = transaction.get_connection().ops
    rows = []
    for e in events:
        nonce = secrets.token_bytes(16)
        rows.append(
            (
                nonce,
                ops.adapt_datetimefield_value(e.at),
                *e.actor,
                e.action,
                e.object_type,
                e.object_id,
                json.dumps(e.details),
                _parked_mac(key, nonce, e),
            )
        )
    columns = "nonce, at, actor_id, actor_label, role, action, object_type, object_id, details, mac"
    cursor.executemany(
        f"INSERT INTO {AuditParked._meta.db_table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
        rows,
    )


@dataclass(frozen=True)
class _Parked:
    id: int
    row: _Row  # with origin set to its nonce
    problem: str  # "" if it may be chained; else why not (its MAC fails, or it was chained before)


def _read_parked(limit: int) -> list[_Parked]:
    """The parked events this transaction can see, oldest first, each checked."""
    key = server_keys.get().audit
    parked = list(AuditParked.objects.order_by("id")[:limit])
    if not parked:
        return []
    nonces = [bytes(p.nonce) for p in parked]
    # A second statement, with the nonces as values, so the chain's unique index on ``origin`` answers
    # it however long the chain is. (Asked in the first one, as a correlated EXISTS, PostgreSQL's
    # planner chose to read the whole event table instead, while it was small.)
    chained = {
        bytes(o) for o in AuditEvent.objects.filter(origin__in=nonces).values_list("origin", flat=True) if o is not None
    }
    found = []
    for p, nonce in zip(parked, nonces, strict=True):
        row = _Row(p.at, (p.actor_id, p.actor_label, p.role), p.action, p.object_type, p.object_id, p.details, nonce)
        problem = ""
        if not crypto.constant_time_equal(_parked_mac(key, nonce, row), bytes(p.mac)):
            problem = "does not match its MAC (forged or edited)"
        elif nonce in chained:
            problem = "was chained already (a copy put back)"
        found.append(_Parked(p.id, row, problem))
    return found


def _chain_parked(cursor: Any, seq: int, prev: bytes) -> tuple[int, bytes]:
    """Chain the sound parked events this transaction sees and delete them; the caller holds the head.

    One that is not sound stays where it is, for ``verify`` to report."""
    sound = [p for p in _read_parked(CHAIN_PARKED_AT_ONCE) if not p.problem]
    if not sound:
        return seq, prev
    tip = _chain(cursor, seq, prev, [p.row for p in sound])
    ids = [p.id for p in sound]
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(f"DELETE FROM {AuditParked._meta.db_table} WHERE id IN ({marks})", ids)  # noqa: S608
    return tip


def chain_parked(*, wait: bool = True) -> int:
    """Chain every parked event that has committed (the worker, ``verify`` and ``head`` call it);
    returns how many. With ``wait`` false it gives up at once when the head is busy: whoever holds it
    chains them. (SQLite parks nothing: there the table stays empty.)"""
    chained = 0
    while AuditParked.objects.exists():
        with transaction.atomic(), transaction.get_connection().cursor() as cursor:
            tip = _take_head(cursor, wait=wait)
            if tip is None:
                return chained
            before = tip[0]
            after, _ = _chain_parked(cursor, tip[0], tip[1])
        if after == before:
            return chained  # only events that may not be chained are left
        chained += after - before
    return chained


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
    back to an earlier, self-consistent head passes. Parked events that have committed are chained
    first; one that cannot be (forged, edited, or a copy of one chained before) is reported.
    """
    key = server_keys.get().audit
    chain_parked()
    breaks: list[Break] = [
        Break(0, f"parked event {p.id} {p.problem}") for p in _read_parked(CHAIN_PARKED_AT_ONCE) if p.problem
    ]
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
    """The chain tip (sequence number and hash), for anchoring outside the database; parked events
    that have committed are chained first."""
    chain_parked()
    tip = AuditHead.objects.filter(id=1).first()
    return (tip.seq, bytes(tip.hash).hex()) if tip else (0, GENESIS.hex())


def anchor_head() -> tuple[int, str]:
    """Append the chain tip to the anchor file (the worker's job, and setup's); returns it."""
    seq, digest = head()
    anchors.append(seq, digest)
    return seq, digest
