"""Writing under SQLite's single writer: fair queueing, and group commit for the busy paths.

SQLite admits one writer at a time; a writer that finds the database locked sleeps in growing steps
(up to 100 ms) before trying again, so under load some requests wait for seconds while others get
in. Taking an exclusive ``flock`` on a file beside the database before the write transaction
(:func:`write_turn`) makes writers queue in the kernel and wake as soon as the previous one commits.

:func:`run_write` goes further for work that arrives from many request threads at once (Telegram
updates, web form submissions): the process's writer thread gathers whatever is waiting and runs it
in one transaction, each piece in its own savepoint, then commits once. One turn of the lock, one
``BEGIN`` and one commit (and one append to the audit chain) are shared by the whole batch, and the
thread that holds the database lock is not kept waiting for the GIL by the threads it serves, which
only wait. A caller gets its result only after the commit; if the commit fails, every caller gets the
error; a piece that raises is rolled back alone and its caller gets its exception.

On PostgreSQL both are no-ops beyond a transaction: row locks let writers run side by side.
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

    On SQLite, from a thread outside any transaction, the work joins the process's group commit (see
    the module docstring) and runs on the writer thread, so it must not depend on the caller's
    thread (its database connection, thread-locals). Inside a transaction, or on PostgreSQL, it runs
    here, in a transaction of its own (a savepoint when nested).
    """
    from hotline.audit import log as audit

    if connection.vendor != "sqlite" or connection.in_atomic_block:
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
            try:
                self._run(jobs)
            finally:
                for job in jobs:
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
        except BaseException as exc:
            # Nothing of this batch is stored: every piece that had succeeded fails with the cause.
            failure = (
                exc if isinstance(exc, DatabaseError) else DatabaseError(f"the batch failed ({type(exc).__name__})")
            )
            for job in jobs:
                if job.error is None or isinstance(job.error, DatabaseError):
                    job.error, job.result = failure, None
            log.warning("db: a batch of %d writes failed (%s)", len(jobs), type(exc).__name__)
            with contextlib.suppress(Exception):
                connection.close()  # the next batch starts on a fresh connection


_writer = _Writer()
