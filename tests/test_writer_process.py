"""The writer process's protocol (``hotline/dbwrite.py``): a web process's ``run_write`` travels over a
Unix socket to the writer, which runs what is waiting in one group commit and answers each caller
after the commit.

Here the writer's loop runs on a thread of the test process against the test database, so the
tests can stop and restart it; the process as ``hotline serve`` runs it (and a ``kill -9`` of it) is
tested in test_crash.py and test_processes.py.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import DatabaseError, OperationalError, connection

from hotline import dbwrite
from hotline.channels.telegram.ingest import _claim
from hotline.channels.telegram.models import ProcessedUpdate

pytestmark = pytest.mark.django_db(transaction=True)


class WriterThread:
    """A :class:`dbwrite.WriterServer` serving on a thread, started and stopped at will."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.server: dbwrite.WriterServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> WriterThread:
        self.server = dbwrite.WriterServer(self.address)
        ready = threading.Event()
        self.thread = threading.Thread(target=self.server.serve, kwargs={"ready": ready.set}, daemon=True)
        self.thread.start()
        assert ready.wait(10), "the writer did not start"
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.stop()
            self.thread.join(10)
            assert not self.thread.is_alive()


@pytest.fixture
def writer(tmp_path: Path, settings: object) -> Iterator[WriterThread]:
    address = str(tmp_path / "writer.sock")
    settings.HOTLINE_WRITER_SOCKET = address  # type: ignore[attr-defined]
    thread = WriterThread(address).start()
    yield thread
    thread.stop()


# Work sent to the writer is pickled by reference: module-level functions.


def claim(update_id: int) -> bool:
    return _claim(update_id)


def claim_then_fail(update_id: int) -> bool:
    _claim(update_id)
    raise ValueError(f"refused {update_id}")


def slow_claim(update_id: int) -> bool:
    time.sleep(0.5)  # holds the writer while the other callers line up
    return _claim(update_id)


def whose_thread() -> str:
    return threading.current_thread().name


def database_fails() -> None:
    raise OperationalError("database is locked")


def unpicklable_result() -> object:
    return threading.Lock()


def test_work_runs_on_the_writer_and_its_result_comes_back_after_the_commit(writer: WriterThread) -> None:
    assert dbwrite.run_write(claim, 101) is True
    assert dbwrite.run_write(claim, 101) is False  # the same update again: the row is committed
    assert ProcessedUpdate.objects.filter(update_id=101).count() == 1
    assert dbwrite.run_write(whose_thread) == writer.thread.name  # type: ignore[union-attr]
    assert stat.S_IMODE(os.stat(writer.address).st_mode) == 0o600


def test_an_error_reaches_its_caller_and_only_its_own_work_is_rolled_back(writer: WriterThread) -> None:
    results: dict[int, object] = {}

    def call(i: int) -> None:
        work = slow_claim if i == 1 else claim_then_fail if i % 4 == 0 else claim
        try:
            results[i] = dbwrite.run_write(work, 200 + i)
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    threads[1].start()
    time.sleep(0.2)  # the slow one is running: the others arrive together
    for t in threads[:1] + threads[2:]:
        t.start()
    for t in threads:
        t.join(30)
    for i in range(16):
        if i % 4 == 0:
            assert isinstance(results[i], ValueError) and str(results[i]) == f"refused {200 + i}"
        else:
            assert results[i] is True
    stored = set(ProcessedUpdate.objects.values_list("update_id", flat=True))
    assert stored == {200 + i for i in range(16) if i % 4}
    assert writer.server is not None and writer.server.batches <= 3, "callers that wait together share a commit"


def test_a_database_error_in_the_writer_is_a_database_error_for_the_caller(writer: WriterThread) -> None:
    """The webhook answers 503 to DatabaseError (Telegram retries): it must survive the trip."""
    with pytest.raises(OperationalError, match="database is locked"):
        dbwrite.run_write(database_fails)
    assert dbwrite.run_write(claim, 350) is True


def test_work_that_cannot_travel_is_refused_before_anything_is_sent(writer: WriterThread) -> None:
    with pytest.raises(TypeError, match="module-level function"):
        dbwrite.run_write(lambda: 1)
    with pytest.raises(TypeError, match="could not be sent back"):
        dbwrite.run_write(unpicklable_result)
    assert dbwrite.run_write(claim, 300) is True  # the connection is still good


def test_a_writer_that_is_down_is_a_database_error_and_a_restarted_one_is_found_again(
    writer: WriterThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbwrite, "CONNECT_WAIT", 0.3)
    assert dbwrite.run_write(claim, 400) is True  # this thread now holds a connection
    writer.stop()
    assert not Path(writer.address).exists()
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="not answering"):
        dbwrite.run_write(claim, 401)
    assert time.monotonic() - started < 5
    writer.start()
    assert dbwrite.run_write(claim, 402) is True  # a new connection to the new writer
    assert set(ProcessedUpdate.objects.values_list("update_id", flat=True)) == {400, 402}


def test_inside_a_transaction_the_work_runs_here(writer: WriterThread) -> None:
    from django.db import transaction

    with transaction.atomic():
        assert dbwrite.run_write(whose_thread) == threading.current_thread().name
        assert connection.in_atomic_block
