"""The hot path's plain statements (``hotline/rows.py``) and SQLite group commit (``dbwrite.run_write``).

Rows written with plain statements must read back identically through the ORM and the other way
round (dates, UUIDs, booleans, relations, bytes) on both databases; driver errors must surface as
Django's (a database that is down still means 503 to Telegram). The group commit must keep each
piece of work isolated: one that raises is rolled back alone with its audit events, the others are
committed together, and a caller hears of success only after the commit. A batch runs straight
through with no savepoint; only one in which a piece raises is run again with a savepoint a piece.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction
from django.utils import timezone

from hotline import dbwrite, rows
from hotline.audit import log as audit
from hotline.audit.models import AuditEvent
from hotline.cases import actions
from hotline.cases.models import Applicant, Case, CaseNumber, ChannelIdentity
from hotline.channels.telegram.models import ChatTrace, TelegramChat
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind
from tests.conftest import Org, statements
from tests.process_support import WAIT

ACTOR = Actor.system("test")


@pytest.fixture(autouse=True)
def _group_commit_on(settings: Any) -> None:
    """This module tests group commit itself, on both databases (the default; a test turns it off)."""
    settings.HOTLINE_GROUP_COMMIT = True


def test_rows_written_plainly_read_back_through_the_orm_and_the_other_way(org: Org) -> None:
    now = timezone.now()
    with transaction.atomic():
        identity = actions.get_or_create_identity(ChannelKind.TELEGRAM, "4242")
        rows.add(TelegramChat(identity=identity, blocked_bot=True, last_activity=now))
        rows.insert(ChatTrace, {"identity": identity, "message_id": 7, "at": now, "wipe_queued": False})
    chat = TelegramChat.objects.get(identity=identity)
    assert chat.blocked_bot is True and chat.last_activity == now
    trace = ChatTrace.objects.get(identity=identity)
    assert (trace.message_id, trace.at, trace.wipe_queued) == (7, now, False)

    # An aware time in another zone is stored as the same instant.
    later = datetime(2026, 1, 2, 15, 30, tzinfo=UTC).astimezone(timezone.get_fixed_timezone(180))
    assert rows.update(TelegramChat, {"identity_id": identity.pk}, {"last_activity": later, "blocked_bot": False}) == 1
    chat.refresh_from_db()
    assert chat.last_activity == later and chat.blocked_bot is False

    fetched = rows.fetch(ChannelIdentity, {"kind": "telegram", "address_index": identity.address_index})
    orm = ChannelIdentity.objects.get(pk=identity.pk)
    assert fetched is not None
    for field in ChannelIdentity._meta.concrete_fields:
        assert getattr(fetched, field.attname) == getattr(orm, field.attname), field.name
    assert isinstance(fetched.pk, uuid.UUID) and fetched.applicant.pk == orm.applicant_id
    assert bytes(fetched.address_enc) == bytes(orm.address_enc)
    assert rows.fetch(ChannelIdentity, {"id": uuid.uuid4()}) is None


def test_fetch_orders_filters_by_lists_and_add_reads_back_an_auto_increment_key(org: Org) -> None:
    case_a = actions.do_open_case(ACTOR, channel=ChannelKind.PHONE, address="+380501234567")
    case_b = actions.do_open_case(ACTOR, channel=ChannelKind.PHONE, address="+380501234567")
    Case.objects.filter(pk=case_a.pk).update(created_at=timezone.now() - timedelta(days=1))
    applicant = case_a.applicant_id
    newest = rows.fetch(Case, {"applicant_id": applicant}, order_by="-created_at")
    oldest = rows.fetch(Case, {"applicant_id": applicant}, order_by="created_at")
    assert newest is not None and oldest is not None
    assert (newest.pk, oldest.pk) == (case_b.pk, case_a.pk)
    assert rows.fetch(Case, {"applicant_id": applicant, "status": ["new", "triage"]}) is not None
    assert rows.fetch(Case, {"applicant_id": applicant, "status": ["closed"]}) is None
    # The case number (an auto-increment key) is read back, so staff see "application N" at once.
    assert case_b.number.pk == CaseNumber.objects.get(case=case_b).pk
    assert CaseNumber.objects.get(case=case_b).pk > CaseNumber.objects.get(case=case_a).pk


def test_driver_errors_are_djangos(org: Org) -> None:
    applicant = Applicant(pseudonym="A-TEST-0001", created_at=timezone.now())
    rows.add(applicant)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.add(Applicant(pseudonym="A-TEST-0001", created_at=timezone.now()))
    with pytest.raises(DatabaseError):
        rows.execute("SELECT no_such_column FROM cases_applicant")
    with pytest.raises(LookupError, match="no field"):
        rows.fetch(Applicant, {"nickname": "x"})


# --- group commit -------------------------------------------------------------------------------------------


def _pseudonyms() -> set[str]:
    return set(Applicant.objects.values_list("pseudonym", flat=True))


def _make(pseudonym: str, *, fail: bool = False) -> Any:
    def work() -> str:
        rows.add(Applicant(pseudonym=pseudonym, created_at=timezone.now()))
        audit.record(ACTOR, "test.work", "applicant", pseudonym)
        if fail:
            raise ValueError("this piece fails")
        return pseudonym

    return work


def _in_threads(works: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(works)
    start = threading.Barrier(len(works))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = dbwrite.run_write(works[i])
        except Exception as exc:  # the test looks at what each caller got
            results[i] = exc
        finally:
            connections["default"].close()  # the thread's own (used when group commit is off)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)  # only against a hung run
    return results


@pytest.mark.django_db(transaction=True)
def test_a_failing_piece_is_rolled_back_alone_with_its_audit_events(org_tx: Org) -> None:
    works = [_make(f"A-OK-{i:04d}") for i in range(12)] + [_make("A-BAD-0001", fail=True)]
    results = _in_threads(works)
    assert results[:12] == [f"A-OK-{i:04d}" for i in range(12)]
    assert isinstance(results[12], ValueError)
    stored = _pseudonyms()
    assert {f"A-OK-{i:04d}" for i in range(12)} <= stored and "A-BAD-0001" not in stored
    events = set(AuditEvent.objects.filter(action="test.work").values_list("object_id", flat=True))
    assert events == {f"A-OK-{i:04d}" for i in range(12)}
    assert audit.verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_fails_every_caller_and_stores_nothing(org_tx: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = type(connections["default"])
    original = wrapper.commit
    broken = {"on": True}

    def commit(self: Any) -> None:
        if broken["on"] and threading.current_thread().name == "hotline-db-writer":
            raise OperationalError("disk I/O error")
        original(self)

    monkeypatch.setattr(wrapper, "commit", commit)
    results = _in_threads([_make(f"A-CM-{i:04d}") for i in range(5)])
    assert all(isinstance(r, DatabaseError) for r in results), results
    assert not any(p.startswith("A-CM-") for p in _pseudonyms())
    broken["on"] = False
    # The writer thread carries on with the next batch, on a fresh connection.
    assert _in_threads([_make("A-AFTER-001")]) == ["A-AFTER-001"]
    assert "A-AFTER-001" in _pseudonyms()


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_commit_fails_once_is_stored_piece_by_piece(org_tx: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = type(connections["default"])
    original = wrapper.commit
    failures = {"left": 1}

    def commit(self: Any) -> None:
        if failures["left"] and threading.current_thread().name == "hotline-db-writer":
            failures["left"] -= 1
            raise OperationalError("deadlock detected")
        original(self)

    monkeypatch.setattr(wrapper, "commit", commit)
    works = [_make(f"A-RE-{i:04d}") for i in range(6)] + [_make("A-RE-BAD1", fail=True)]
    results = _in_threads(works)
    assert results[:6] == [f"A-RE-{i:04d}" for i in range(6)] and isinstance(results[6], ValueError)
    assert {p for p in _pseudonyms() if p.startswith("A-RE-")} == {f"A-RE-{i:04d}" for i in range(6)}
    events = set(AuditEvent.objects.filter(action="test.work").values_list("object_id", flat=True))
    assert events == {f"A-RE-{i:04d}" for i in range(6)}
    assert audit.verify().ok


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_work_runs_in_it(org_tx: Org) -> None:
    with transaction.atomic():
        assert dbwrite.run_write(lambda: threading.current_thread().name) == threading.current_thread().name
    assert dbwrite.run_write(lambda: threading.current_thread().name) == "hotline-db-writer"


@pytest.mark.django_db(transaction=True)
def test_without_group_commit_each_caller_commits_its_own_transaction(org_tx: Org, settings: Any) -> None:
    settings.HOTLINE_GROUP_COMMIT = False
    results = _in_threads([_make(f"A-OWN-{i:04d}") for i in range(4)] + [_make("A-OWN-BAD1", fail=True)])
    assert results[:4] == [f"A-OWN-{i:04d}" for i in range(4)] and isinstance(results[4], ValueError)
    assert {p for p in _pseudonyms() if p.startswith("A-OWN-")} == {f"A-OWN-{i:04d}" for i in range(4)}
    audit.chain_parked()  # on PostgreSQL a transaction that found the chain head busy parked its event
    events = set(AuditEvent.objects.filter(action="test.work").values_list("object_id", flat=True))
    assert events == {f"A-OWN-{i:04d}" for i in range(4)}
    assert dbwrite.run_write(lambda: threading.current_thread().name) == threading.current_thread().name
    assert audit.verify().ok


def test_two_batches_that_deadlock_on_copies_of_one_update_answer_each_copy_once(org_tx: Org) -> None:
    """Two web processes each get a copy of updates 1 and 2, in opposite orders. On PostgreSQL each
    batch claims one id and then waits for the other's: a deadlock. The victim is run again after
    its batch and finds the other copy stored: every copy is answered, as stored or duplicate."""
    from django.db import connection

    from hotline.channels.telegram.ingest import _claim

    if connection.vendor != "postgresql":
        pytest.skip("SQLite admits one writer at a time: batches cannot deadlock there")
    both_claimed = threading.Barrier(2, timeout=120)
    waited: set[int] = set()

    def claim(update_id: int, then_wait: bool) -> str:
        stored = _claim(update_id)
        if then_wait and update_id not in waited:  # a batch run again does not wait again
            waited.add(update_id)
            both_claimed.wait()  # each batch now holds one id the other will ask for
        return "stored" if stored else "duplicate"

    batches = {
        "a": [dbwrite._Job(lambda: claim(9_001, True)), dbwrite._Job(lambda: claim(9_002, False))],
        "b": [dbwrite._Job(lambda: claim(9_002, True)), dbwrite._Job(lambda: claim(9_001, False))],
    }

    def run(jobs: list[dbwrite._Job[Any]]) -> None:
        try:
            dbwrite.run_batch(jobs)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=run, args=(jobs,)) for jobs in batches.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for jobs in batches.values():
        assert [job.error for job in jobs] == [None, None]
    # The victim's batch was rolled back as a whole and run again: whichever copy committed first is
    # "stored", the other "duplicate", for each update.
    a, b = batches["a"], batches["b"]
    answers = {9_001: {a[0].result, b[1].result}, 9_002: {a[1].result, b[0].result}}
    assert answers == {9_001: {"stored", "duplicate"}, 9_002: {"stored", "duplicate"}}


@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_straight_through_without_a_savepoint(org_tx: Org) -> None:
    jobs = [dbwrite._Job(_make(f"A-ST-{i:04d}")) for i in range(5)]
    with statements() as seen:
        dbwrite.run_batch(jobs)
    assert [(job.result, job.error) for job in jobs] == [(f"A-ST-{i:04d}", None) for i in range(5)]
    assert not [s for s in seen if "SAVEPOINT" in s.upper()], seen
    assert {p for p in _pseudonyms() if p.startswith("A-ST-")} == {f"A-ST-{i:04d}" for i in range(5)}


@pytest.mark.django_db(transaction=True)
def test_a_piece_that_raises_makes_its_batch_run_again_a_savepoint_a_piece(org_tx: Org) -> None:
    runs: dict[str, int] = {}

    def counted(name: str, *, fail: bool = False) -> dbwrite._Job[Any]:
        work = _make(name, fail=fail)

        def run() -> Any:
            runs[name] = runs.get(name, 0) + 1
            return work()

        return dbwrite._Job(run)

    jobs = [counted("A-CA-0001"), counted("A-CA-0002"), counted("A-CA-BAD1", fail=True), counted("A-CA-0003")]
    dbwrite.run_batch(jobs)
    assert [job.result for job in jobs] == ["A-CA-0001", "A-CA-0002", None, "A-CA-0003"]
    assert [type(job.error) for job in jobs] == [type(None), type(None), ValueError, type(None)]
    # The pieces up to the one that raised ran twice: straight through, then each in its savepoint.
    assert runs == {"A-CA-0001": 2, "A-CA-0002": 2, "A-CA-BAD1": 2, "A-CA-0003": 1}
    assert {p for p in _pseudonyms() if p.startswith("A-CA-")} == {"A-CA-0001", "A-CA-0002", "A-CA-0003"}
    events = sorted(AuditEvent.objects.filter(action="test.work").values_list("object_id", flat=True))
    assert events == ["A-CA-0001", "A-CA-0002", "A-CA-0003"]
    assert audit.verify().ok


def test_only_a_deadlock_or_serialization_failure_counts_as_transient() -> None:
    class Cause(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    def wrapped(sqlstate: str) -> OperationalError:
        error = OperationalError("x")
        error.__cause__ = Cause(sqlstate)
        return error

    assert dbwrite.is_transient(wrapped("40P01")) and dbwrite.is_transient(wrapped("40001"))
    assert not dbwrite.is_transient(wrapped("23505")) and not dbwrite.is_transient(IntegrityError("x"))
    assert not dbwrite.is_transient(ValueError("x")) and not dbwrite.is_transient(None)


@pytest.mark.django_db(transaction=True)
def test_a_batchs_outbox_rows_are_written_together_in_order_and_dropped_with_a_piece_that_raises(org_tx: Org) -> None:
    from hotline.outbox.enqueue import enqueue, payload_of
    from hotline.outbox.models import OutboxMessage

    def work(name: str, *, fail: bool = False) -> Any:
        def run() -> str:
            for n in (1, 2):
                enqueue("telegram", "send", {"text": f"{name}-{n}"}, identity=None)
            rows.add(Applicant(pseudonym=f"A-OB-{name}", created_at=timezone.now()))
            if fail:
                raise ValueError("this piece fails")
            return name

        return dbwrite._Job(run)

    with statements() as seen:
        dbwrite.run_batch([work("first"), work("second"), work("third")])
    # The outbox rows are written after every piece's own work, together (one executemany).
    outbox = [i for i, s in enumerate(seen) if "outbox_outboxmessage" in s]
    applicants = [i for i, s in enumerate(seen) if "cases_applicant" in s]
    assert outbox and len(applicants) == 3 and min(outbox) > max(applicants), seen
    assert [payload_of(m)["text"] for m in OutboxMessage.objects.order_by("id")] == [
        f"{name}-{n}" for name in ("first", "second", "third") for n in (1, 2)
    ]
    OutboxMessage.objects.all().delete()
    jobs = [work("kept"), work("dropped", fail=True), work("after")]
    dbwrite.run_batch(jobs)
    assert isinstance(jobs[1].error, ValueError)
    kept = [payload_of(m)["text"] for m in OutboxMessage.objects.order_by("id")]
    assert kept == ["kept-1", "kept-2", "after-1", "after-2"]
    # Outside a unit of write work an outbox row is written at once.
    with transaction.atomic():
        enqueue("telegram", "send", {"text": "alone"}, identity=None)
        assert OutboxMessage.objects.filter(kind="send").count() == 5


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_writing_connection_keeps_the_larger_page_cache(org_tx: Org, settings: Any) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL has no per-connection page cache")

    def cache_size() -> int:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return int(cursor.fetchone()[0])

    dbwrite.close_writer_connection()  # the writer thread's next connection is opened now
    assert dbwrite.run_write(cache_size) == -settings.HOTLINE_SQLITE_CACHE_MB * 1024
    assert cache_size() == -2 * 1024  # this thread only reads: HOTLINE_SQLITE_READER_CACHE_MB
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size")
        assert cursor.fetchone()[0] == 0  # no memory map by default (HOTLINE_SQLITE_MMAP_MB)
