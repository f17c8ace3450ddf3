"""Writing under a single writer: fair queueing on SQLite, and group commit for the busy paths.

SQLite admits one writer at a time; a writer that finds the database locked sleeps in growing steps
(up to 100 ms) before trying again, so under load some requests wait for seconds while others get
in. Taking an exclusive ``flock`` on a file beside the database before the write transaction
(:func:`write_turn`) makes writers queue in the kernel and wake as soon as the previous one commits.

:func:`run_write` goes further for work that arrives from many request threads at once (Telegram
updates, web form submissions): the process's writer thread gathers whatever is waiting and runs it
in one transaction, each piece in its own savepoint, then commits once. One turn of the lock, one
``BEGIN`` and one commit (and one append to the audit chain) are shared by the whole batch, and the
thread that holds the database lock is not kept waiting for the GIL by the threads it serves, which
only wait. A caller gets its result only after the commit; a piece that raises is rolled back alone
and its caller gets its exception. If the batch as a whole fails (the commit, a deadlock, a
connection lost), nothing of it is stored and each piece is run again on its own, so one piece's
trouble never fails the others; a database that is down fails every caller with DatabaseError.

PostgreSQL has row locks, but every action also appends to the audit chain, whose head is one row:
each transaction holds it from its append to its commit (a WAL flush). Group commit pays that, and
the commit, once per batch there too. ``write_turn`` is a no-op on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.db import DatabaseError, connection, transaction

T = TypeVar("T")

log = logging.getLogger("hotline.db")

_local = threading.local()

# Pieces of work committed together at most; more wait for the next turn (keeps one turn short).
MAX_BATCH = 64


@contextlib.contextmanager
def write_turn() -> Iterator[None]:
    if connection.vendor != "sqlite" or getattr(_local, "held", False):
        yield
        return
    path = Path(str(connection.settings_dict["NAME"])).with_suffix(".write-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.held = True
        try:
            yield
        finally:
            _local.held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_write(work: Callable[[], T]) -> T:
    """Run ``work`` in a write transaction (with an audit batch) and return its result once committed.

    From a thread outside any transaction, the work joins the process's group commit (see the module
    docstring) and runs on the writer thread, so it must not depend on the caller's thread (its
    database connection, thread-locals). Inside a transaction it runs here, in a savepoint.
    """
    from hotline.audit import log as audit

    if connection.in_atomic_block:
        with write_turn(), transaction.atomic(), audit.batch():
            return work()
    return _writer.submit(work)


@dataclass
class _Job(Generic[T]):
    work: Callable[[], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class _Writer:
    """The process's writer thread for :func:`run_write` (started on first use, also after a fork)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Job[Any]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()

    def submit(self, work: Callable[[], T]) -> T:
        job: _Job[T] = _Job(work)
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._queue = []
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="hotline-db-writer", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                jobs, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            closing = [job for job in jobs if job.work is _close_connection]
            jobs = [job for job in jobs if job.work is not _close_connection]
            try:
                if jobs:
                    self._run(jobs)
                if closing:
                    self._reconnect()
            except BaseException as exc:  # the thread is going away: nobody may think their work was stored
                for job in jobs:
                    job.error, job.result = DatabaseError(f"the writer stopped ({type(exc).__name__})"), None
                raise
            finally:
                for job in jobs + closing:
                    job.done.set()

    def _run(self, jobs: list[_Job[Any]]) -> None:
        from hotline.audit import log as audit

        try:
            with write_turn(), transaction.atomic(), audit.batch():
                for job in jobs:
                    try:
                        with transaction.atomic(), audit.savepoint():
                            job.result = job.work()
                    except Exception as exc:  # the piece is rolled back alone; its caller gets the error
                        job.error = exc
                    if connection.needs_rollback:  # a savepoint could not be rolled back: give up the batch
                        raise DatabaseError("the write transaction was aborted")
        except Exception as exc:
            # Nothing of this batch is stored. Run again, one at a time, every piece that had not
            # failed on its own (a piece that raised keeps its error: it would raise again).
            log.warning("db: a batch of %d writes failed (%s); running them one by one", len(jobs), type(exc).__name__)
            self._reconnect()
            again = [job for job in jobs if job.error is None or isinstance(job.error, DatabaseError)]
            for job in again:
                job.error, job.result = None, None
                try:
                    with write_turn(), transaction.atomic(), audit.batch():
                        job.result = job.work()
                except Exception as single:
                    job.error, job.result = single, None
                    if isinstance(single, DatabaseError):
                        self._reconnect()

    @staticmethod
    def _reconnect() -> None:
        """After a failed transaction, start the next one on a fresh connection."""
        with contextlib.suppress(Exception):
            connection.close()


_writer = _Writer()


def close_writer_connection() -> None:
    """Close the writer thread's database connection (it reconnects on its next batch): before a
    database is dropped, as at the end of a test run."""

    if _writer.running():
        _writer.submit(_close_connection)


def _close_connection() -> None:
    """Not work: a request to the writer thread to close its connection (see :meth:`_Writer._loop`)."""
