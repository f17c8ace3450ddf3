"""`hotline audit verify` finds every edited, deleted, reordered or truncated event and says where."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hotline.audit import log
from hotline.audit.models import AuditEvent, AuditHead
from hotline.cases import actions
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind
from tests.conftest import Org


@pytest.fixture
def ten_events(org: Org) -> None:
    """Setup writes 2 events; four cases with a note each write 8 more."""
    for i in range(4):
        case = actions.do_open_case(Actor.system(), channel=ChannelKind.WEB, address=f"web-{i}")
        actions.do_add_note(org.admin_actor, case, f"note {i}")
    assert AuditEvent.objects.count() == 10


def _verify_command() -> tuple[bool, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except CommandError as exc:
        return False, err.getvalue() + str(exc)
    return True, out.getvalue()


def test_an_intact_log_verifies(ten_events: None) -> None:
    ok, text = _verify_command()
    assert ok, text
    assert "10 event(s)" in text


def test_an_edited_event_is_reported_at_its_place(ten_events: None) -> None:
    AuditEvent.objects.filter(seq=5).update(actor_label="someone-else")
    ok, text = _verify_command()
    assert not ok
    assert "event 5: content does not match its hash (edited)" in text
    assert [b.seq for b in log.verify().breaks] == [5]


def test_an_edited_timestamp_is_reported(ten_events: None) -> None:
    event = AuditEvent.objects.get(seq=7)
    AuditEvent.objects.filter(seq=7).update(at=event.at.replace(year=2020))
    assert [str(b) for b in log.verify().breaks] == ["event 7: content does not match its hash (edited)"]


def test_a_deleted_event_is_reported(ten_events: None) -> None:
    AuditEvent.objects.filter(seq__in=[4, 5]).delete()
    ok, text = _verify_command()
    assert not ok
    assert "event 6: events 4–5 are missing (deleted)" in text


def test_reordered_events_are_reported(ten_events: None) -> None:
    # Swap the sequence numbers of events 3 and 4.
    AuditEvent.objects.filter(seq=3).update(seq=-1)
    AuditEvent.objects.filter(seq=4).update(seq=3)
    AuditEvent.objects.filter(seq=-1).update(seq=4)
    breaks = log.verify().breaks
    assert breaks and breaks[0].seq == 3
    assert any("reordered" in b.problem or "edited" in b.problem for b in breaks)


def test_a_truncated_log_is_reported(ten_events: None) -> None:
    AuditEvent.objects.filter(seq__gte=9).delete()
    breaks = log.verify().breaks
    assert [b.seq for b in breaks] == [10]
    assert "truncated" in breaks[0].problem


def test_a_forged_chain_without_the_audit_key_is_reported(ten_events: None) -> None:
    """Rewriting an event and recomputing plain hashes is not enough: the chain is keyed."""
    import hashlib

    event = AuditEvent.objects.get(seq=10)
    fake = hashlib.blake2b(bytes(event.prev_hash) + b"forged", digest_size=32).digest()
    AuditEvent.objects.filter(seq=10).update(action="case.forged", hash=fake)
    AuditHead.objects.filter(id=1).update(hash=fake)
    assert [b.seq for b in log.verify().breaks] == [10]


def test_events_cannot_be_recorded_outside_a_transaction(org: Org) -> None:
    # pytest-django wraps each test in a transaction, so simulate an autocommit caller.
    from django.db import transaction

    conn = transaction.get_connection()
    saved = conn.in_atomic_block
    conn.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError, match="inside the action's transaction"):
            log.record(Actor.system(), "x", "y", 1)
    finally:
        conn.in_atomic_block = saved
