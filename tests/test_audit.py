"""`hotline audit verify` finds every edited, deleted, reordered or truncated event and says where."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

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


# --- anchors: evidence kept outside the database --------------------------------------------------


def _verify_with(*args: str) -> tuple[bool, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return False, err.getvalue() + str(exc)
    return True, out.getvalue()


def test_a_wiped_log_does_not_pass_on_an_installation_that_was_set_up(ten_events: None) -> None:
    AuditEvent.objects.all().delete()
    AuditHead.objects.filter(id=1).update(seq=0, hash=bytes(32))
    ok, text = _verify_with("--no-anchor-file")
    assert not ok
    assert "holds no setup event (the log was wiped)" in text


def test_a_log_cut_back_to_an_earlier_head_is_caught_by_the_anchor_file(
    ten_events: None, _private_anchor_file: Path
) -> None:
    seq, digest = log.anchor_head()
    assert seq == 10 and _private_anchor_file.read_text().startswith(f"10 {digest} ")
    # The thief cuts the last three events and points the head at the new last event: a consistent,
    # shorter chain that passes on its own.
    AuditEvent.objects.filter(seq__gte=8).delete()
    seventh = AuditEvent.objects.get(seq=7)
    AuditHead.objects.filter(id=1).update(seq=7, hash=bytes(seventh.hash))
    assert _verify_with("--no-anchor-file")[0]
    ok, text = _verify_with()
    assert not ok
    assert "event 10: is anchored (audit-anchors, line 1) but missing from the log (truncated or deleted)" in text


def test_an_anchor_kept_on_paper_catches_a_truncation(ten_events: None) -> None:
    out = StringIO()
    call_command("audit", "anchor", "--print-only", stdout=out)
    paper = out.getvalue().strip()
    assert paper.startswith("10:")
    AuditEvent.objects.filter(seq__gte=9).delete()
    AuditHead.objects.filter(id=1).update(seq=8, hash=bytes(AuditEvent.objects.get(seq=8).hash))
    assert _verify_with()[0]  # nothing in the anchor file: the cut is self-consistent
    ok, text = _verify_with("--anchor", paper.upper().replace(":", " : "))
    assert not ok and "event 10: is anchored (--anchor)" in text


def test_a_rewritten_event_under_an_anchor_is_reported(ten_events: None) -> None:
    log.anchor_head()
    # A thief with the audit key could recompute the whole chain; the anchored hash still differs.
    AuditEvent.objects.filter(seq=10).update(hash=bytes(32))
    AuditHead.objects.filter(id=1).update(hash=bytes(32))
    breaks = [str(b) for b in log.verify().breaks]
    assert "event 10: does not match the anchor from audit-anchors, line 1 (rewritten)" in breaks


def test_every_anchored_truncation_is_reported_and_a_kept_prefix_passes(ten_events: None) -> None:
    anchored = []
    for i in range(3):
        with transaction.atomic():
            log.record(Actor.system(), "test.event", "test", i)
        anchored.append(log.anchor_head()[0])
    assert anchored == [11, 12, 13]
    assert log.verify().ok and log.verify().anchors == 3
    AuditEvent.objects.filter(seq__gte=12).delete()
    AuditHead.objects.filter(id=1).update(seq=11, hash=bytes(AuditEvent.objects.get(seq=11).hash))
    assert sorted(b.seq for b in log.verify().breaks) == [12, 13]


def test_the_anchor_file_skips_a_repeated_head_and_reports_an_edited_line(
    ten_events: None, _private_anchor_file: Path
) -> None:
    log.anchor_head()
    log.anchor_head()
    assert len(_private_anchor_file.read_text().splitlines()) == 1
    assert _private_anchor_file.stat().st_mode & 0o777 == 0o600
    with _private_anchor_file.open("a") as f:
        f.write("ten 0000\n")
    assert [str(b) for b in log.verify().breaks] == [
        f"{_private_anchor_file} line 2 is not an anchor (the file was edited)"
    ]


def test_a_malformed_anchor_on_the_command_line_is_refused_with_a_reason(ten_events: None) -> None:
    with pytest.raises(CommandError, match="SEQ:HASH"):
        call_command("audit", "verify", "--anchor", "10:nothex", stdout=StringIO(), stderr=StringIO())


def test_the_worker_job_anchors_the_head(ten_events: None, _private_anchor_file: Path) -> None:
    from hotline.worker.jobs import _anchor_audit_head

    _anchor_audit_head()
    assert _private_anchor_file.read_text().split()[:2] == [str(log.head()[0]), log.head()[1]]


def test_setup_writes_the_first_anchor(transactional_db: None, _private_anchor_file: Path) -> None:
    from hotline.keyring.actions import do_setup

    do_setup("admin", "correct horse battery staple")
    first = _private_anchor_file.read_text().split()
    assert int(first[0]) >= 2 and first[1] == log.head()[1]
