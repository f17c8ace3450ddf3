"""The audit chain without a global lock: a transaction that finds the chain head busy parks its events.

On PostgreSQL a transaction that would have to wait for the head (another transaction appended and has
not committed) stores its events as parked rows under a MAC and commits at once; the next holder of
the head chains them. The guarantees must hold all the same: an event exists exactly when its
transaction committed, the chain has no gaps, and a parked row that was forged, edited or copied
back is never chained and is reported by ``verify``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from hotline.audit import log
from hotline.audit.models import AuditEvent, AuditParked
from hotline.core.actor import Actor
from tests.conftest import Org
from tests.process_support import WAIT

ACTOR = Actor.system("test")


def _in_thread(work: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connections["default"].close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: a transaction never finds the head held by another")


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("seq").values_list("object_id", flat=True))


def _hold_the_head_until(release: threading.Event, holding: threading.Event) -> Callable[[], None]:
    """A transaction that appends (so it holds the head) and commits only when ``release`` is set."""

    def work() -> None:
        with transaction.atomic():
            log.record(ACTOR, "test.event", "test", "holder")
            holding.set()
            release.wait(WAIT)

    return work


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_finds_the_head_busy_commits_without_waiting_and_its_event_is_chained_after(
    org_tx: Org,
) -> None:
    _postgres_only()
    holding, release = threading.Event(), threading.Event()
    holder = _in_thread(_hold_the_head_until(release, holding))
    assert holding.wait(WAIT)
    # The holder has not committed; this transaction would have waited for it. It commits now.
    with transaction.atomic():
        log.record(ACTOR, "test.event", "test", "parked")
    assert list(AuditParked.objects.values_list("object_id", flat=True)) == ["parked"]
    assert "parked" not in _actions()
    release.set()
    holder.join(WAIT)
    assert not holder.is_alive()
    # The next transaction that appends chains the parked event first, then its own.
    with transaction.atomic():
        log.record(ACTOR, "test.event", "test", "next")
    assert _actions()[-3:] == ["holder", "parked", "next"]
    assert not AuditParked.objects.exists()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert log.verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_parked_event_whose_transaction_rolls_back_never_exists(org_tx: Org) -> None:
    _postgres_only()
    holding, release = threading.Event(), threading.Event()
    holder = _in_thread(_hold_the_head_until(release, holding))
    assert holding.wait(WAIT)
    with pytest.raises(RuntimeError), transaction.atomic():
        log.record(ACTOR, "test.event", "test", "rolled-back")
        assert AuditParked.objects.filter(object_id="rolled-back").exists()
        raise RuntimeError("the change fails")
    release.set()
    holder.join(WAIT)
    assert not AuditParked.objects.exists()
    assert log.chain_parked() == 0
    assert "rolled-back" not in _actions()
    assert log.verify().ok


@pytest.mark.django_db(transaction=True)
def test_one_transactions_events_keep_their_order_when_the_first_was_parked(org_tx: Org) -> None:
    _postgres_only()
    holding, release = threading.Event(), threading.Event()
    holder = _in_thread(_hold_the_head_until(release, holding))
    assert holding.wait(WAIT)
    with transaction.atomic():
        log.record(ACTOR, "test.event", "test", "first")  # parked: the head is held
        release.set()
        holder.join(WAIT)
        log.record(ACTOR, "test.event", "test", "second")  # the head is free now: chained, after "first"
    assert _actions()[-3:] == ["holder", "first", "second"]
    assert not AuditParked.objects.exists()
    assert log.verify().ok


@pytest.mark.django_db(transaction=True)
def test_head_and_the_worker_chain_what_is_left_parked(org_tx: Org) -> None:
    _postgres_only()
    holding, release = threading.Event(), threading.Event()
    holder = _in_thread(_hold_the_head_until(release, holding))
    assert holding.wait(WAIT)
    with transaction.atomic():
        log.record(ACTOR, "test.event", "test", "parked")
    assert log.chain_parked(wait=False) == 0  # the head is busy: its holder will see to it
    release.set()
    holder.join(WAIT)
    seq, digest = log.head()  # an anchor covers every committed event
    assert AuditEvent.objects.get(seq=seq).object_id == "parked"
    assert bytes(AuditEvent.objects.get(seq=seq).hash).hex() == digest


def _park_one(object_id: str) -> AuditParked:
    """A parked event as a transaction that found the head busy would have left it."""
    with transaction.atomic(), connection.cursor() as cursor:
        event = log._Pending(ACTOR, "test.event", "test", object_id, {"n": 1}, timezone.now())
        log._park(cursor, [log._Row.of(event)])
    return AuditParked.objects.get(object_id=object_id)


@pytest.mark.django_db(transaction=True)
def test_a_forged_parked_event_is_never_chained_and_verify_reports_it(org_tx: Org) -> None:
    real = _park_one("real")
    AuditParked.objects.create(
        nonce=secrets.token_bytes(16),
        at=timezone.now(),
        actor_label="admin",
        role="admin",
        action="case.forged",
        object_type="case",
        object_id="forged",
        details={},
        mac=bytes(32),
    )
    assert log.chain_parked() == 1
    assert "real" in _actions() and "forged" not in _actions()
    forged = AuditParked.objects.get()
    assert forged.id != real.id
    breaks = [str(b) for b in log.verify().breaks]
    assert breaks == [f"parked event {forged.id} does not match its MAC (forged or edited)"]


@pytest.mark.django_db(transaction=True)
def test_an_edited_parked_event_is_reported(org_tx: Org) -> None:
    parked = _park_one("edited")
    AuditParked.objects.filter(id=parked.id).update(actor_label="someone-else")
    assert log.chain_parked() == 0
    assert [str(b) for b in log.verify().breaks] == [
        f"parked event {parked.id} does not match its MAC (forged or edited)"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_parked_event_copied_back_after_it_was_chained_is_not_chained_twice(org_tx: Org) -> None:
    parked = _park_one("once")
    copy = {f.attname: getattr(parked, f.attname) for f in AuditParked._meta.concrete_fields if f.attname != "id"}
    assert log.chain_parked() == 1
    again = AuditParked.objects.create(**copy)
    assert log.chain_parked() == 0
    assert _actions().count("once") == 1
    assert [str(b) for b in log.verify().breaks] == [f"parked event {again.id} was chained already (a copy put back)"]


@pytest.mark.django_db(transaction=True)
def test_a_chained_events_origin_is_part_of_its_hash(org_tx: Org) -> None:
    _park_one("origin")
    assert log.chain_parked() == 1
    event = AuditEvent.objects.get(object_id="origin")
    assert event.origin is not None
    # Clearing the origin would let a copy of the parked row be chained again: it breaks the chain.
    AuditEvent.objects.filter(seq=event.seq).update(origin=None)
    assert [b.seq for b in log.verify().breaks] == [event.seq]
