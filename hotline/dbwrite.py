"""Writing under a single writer: fair queueing on SQLite, and group commit for the busy paths.

SQLite admits one writer at a time; a writer that finds the database locked sleeps in growing steps
(up to 100 ms) before trying again, so under load some requests wait for seconds while others get
in. Taking an exclusive ``flock`` on a file beside the database before the write transaction
(:func:`write_turn`) makes writers queue in the kernel and wake as soon as the previous one commits.

:func:`run_write` goes further for work that arrives from many request threads at once (Telegram
updates, web form submissions, phone-line events): the process's writer thread gathers whatever is
waiting and runs it in one transaction, then commits once. One turn of the lock, one ``BEGIN`` and
one commit (and one append to the audit chain) are shared by the whole batch, and the thread that
holds the database lock is not kept waiting for the GIL by the threads it serves, which only wait.
A caller gets its result only after the commit. The pieces run straight through, with no savepoint
each; a piece that raises makes the batch run again with a savepoint per piece, so that it is rolled
back alone and its caller gets its exception (:func:`run_batch`). If the batch as a whole fails (the
commit, a connection lost), nothing of it is stored and each piece is run again on its own, so one
piece's trouble never fails the others; a database that is down fails every caller with
DatabaseError.

On SQLite ``hotline serve`` runs that group commit in a process of its own, the writer process
(:class:`WriterServer`, below): the web processes send their work over a Unix socket, and one
process, sharing no GIL with request threads, takes the write turn for all of them.

On PostgreSQL each web process has its writer thread (a batch's statements are round trips to the
server, so one writer process for all would wait through every one of them in turn). PostgreSQL has
row locks and many writers, and the audit chain does not make the batches wait for each other (a
transaction that finds the chain head held parks its events: ``audit/log.py``). A deadlock's victim
is run again. With ``HOTLINE_GROUP_COMMIT`` off, :func:`run_write` runs the work in the caller's
thread, in a transaction of its own. ``write_turn`` is a no-op on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import pickle
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from hotline import rows

T = TypeVar("T")

log = logging.getLogger("hotline.db")

_local = threading.local()


def _writing_thread() -> None:
    """Mark this thread as the one that runs the group commits (the writer thread, or the writer
    process's loop): the SQLite connection it opens keeps the larger page cache."""
    _local.writer = True


@receiver(connection_created)
def _writer_page_cache(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite" and getattr(_local, "writer", False):
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size=-{int(settings.HOTLINE_SQLITE_CACHE_MB) * 1024}")


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


@contextlib.contextmanager
def _unit() -> Iterator[None]:
    """Around the work :func:`run_write` runs: whatever it raises rolls back the whole transaction or
    the piece's savepoint, which is the unit (see :func:`atomic`). Each run (a retry too) is a unit
    of its own, with a token of its own (:func:`unit_token`)."""
    outer = getattr(_local, "unit", None)
    _local.unit = object()
    try:
        yield
    finally:
        _local.unit = outer


def unit_token() -> object | None:
    """An object that stands for the :func:`run_write` work running on this thread, None outside one.
    Row locks taken during it are held until it ends (committed or rolled back), so a row read under
    a lock and marked with this token need not be read again while the token is the same."""
    return getattr(_local, "unit", None)


def atomic() -> transaction.Atomic:
    """``transaction.atomic()`` for an action that may run inside :func:`run_write`'s work.

    There the enclosing transaction (or, in a group commit, the piece's savepoint) already is the
    unit: an exception in the action leaves the work, and the unit is rolled back with everything
    the work did. A savepoint of the action's own would only cost two statements (``SAVEPOINT``,
    ``RELEASE``), each a round trip on PostgreSQL, so there it takes none. (Work that caught an
    action's exception and went on would then find the transaction unusable, and fail, rather than
    store half of it: nothing in a ``run_write`` work does.) Elsewhere — the console, commands —
    it is ``transaction.atomic()``, a savepoint when nested, as before.
    """
    return transaction.atomic(savepoint=getattr(_local, "unit", None) is None)


def run_write(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``work(*args, **kwargs)`` in a write transaction (with an audit batch) and return its result
    once committed.

    From a thread outside any transaction, the work joins a group commit (see the module docstring):
    on the writer process when ``HOTLINE_WRITER_SOCKET`` names one (then ``work`` must be a module-level
    function and its arguments picklable), otherwise on this process's writer thread. Either way it
    must not depend on the caller's thread (its database connection, thread-locals). Inside a
    transaction it runs here, in a savepoint. With group commit off (``HOTLINE_GROUP_COMMIT``, the
    default on PostgreSQL) and no writer process, it runs here in a transaction of its own, run again
    while it is a deadlock's victim.
    """
    from hotline.audit import log as audit

    if connection.in_atomic_block:
        with write_turn(), transaction.atomic(), audit.batch(), _unit(), rows.collected():
            return work(*args, **kwargs)
    address = settings.HOTLINE_WRITER_SOCKET
    if address:
        return _remote.call(address, work, args, kwargs)
    if not settings.HOTLINE_GROUP_COMMIT:
        job: _Job[T] = _Job(functools.partial(work, *args, **kwargs))
        _run_alone(job)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]
    return _writer.submit(functools.partial(work, *args, **kwargs) if args or kwargs else work)


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
        _writing_thread()
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                jobs, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            closing = [job for job in jobs if job.work is _close_connection]
            jobs = [job for job in jobs if job.work is not _close_connection]
            try:
                if jobs:
                    run_batch(jobs)
                if closing:
                    _reconnect()
            except BaseException as exc:  # the thread is going away: nobody may think their work was stored
                for job in jobs:
                    job.error, job.result = DatabaseError(f"the writer stopped ({type(exc).__name__})"), None
                raise
            finally:
                for job in jobs + closing:
                    job.done.set()


# A piece that lost to another transaction (PostgreSQL chose it as a deadlock's victim, or could not
# serialise it) did nothing wrong: it runs again on its own, this many times at most.
TRANSIENT_RETRIES = 5
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def is_transient(error: BaseException | None) -> bool:
    """True for a database error that running the same work again can cure (a deadlock's victim)."""
    if not isinstance(error, DatabaseError):
        return False
    cause = error.__cause__ or error
    return getattr(cause, "sqlstate", None) in _TRANSIENT_SQLSTATES


def run_batch(jobs: list[_Job[Any]]) -> None:
    """Run jobs in one write transaction and set each job's result or error (the caller sets ``done``).

    The batch is first run as it almost always succeeds: every piece one after the other in the
    transaction, with no savepoint of its own (on PostgreSQL ``SAVEPOINT`` and ``RELEASE`` are two
    round trips per piece, and on either database the savepoint bookkeeping cost as much as a small
    piece's statements). If a piece raises, the transaction is rolled back (nothing of the batch is
    stored: the failed piece may have written half of its work) and the batch is run again carefully
    (:func:`_run_careful`), each piece in its own savepoint, so that only the piece that raises is
    rolled back and its caller gets the error. The pieces before it ran twice, which their work
    allows (it is stored only when its transaction commits). If the batch as a whole fails (its
    commit, a lost connection), its pieces run again one at a time.
    """
    from hotline.audit import log as audit

    raised: list[BaseException] = []
    try:
        with write_turn(), transaction.atomic(), audit.batch(), rows.collected():
            for job in jobs:
                try:
                    with _unit():
                        job.result = job.work()
                except Exception as exc:
                    raised.append(exc)
                    raise
    except Exception as exc:
        for job in jobs:
            job.result = None
        if not raised:  # the batch as a whole failed: nothing of it is stored; each piece on its own
            _run_each_alone(jobs, exc)
            return
        if isinstance(raised[0], DatabaseError):
            _reconnect()
        _run_careful(jobs)


def _run_careful(jobs: list[_Job[Any]]) -> None:
    """Run jobs in one write transaction, each in its own savepoint; a piece that raises is rolled
    back alone and keeps its error. If the batch as a whole fails, run the pieces again one at a time;
    a piece that was a deadlock's victim runs again on its own after the batch.

    Two batches can deadlock on PostgreSQL when each holds a row the other wants — two copies of one
    Telegram update posted at once to two web processes, each claiming its copy's ``update_id``
    first. PostgreSQL aborts one piece; the rest of its batch commits, and the piece, run again
    alone, then finds the other copy committed and answers as a duplicate.
    """
    from hotline.audit import log as audit

    try:
        with write_turn(), transaction.atomic(), audit.batch():
            for job in jobs:
                try:
                    with transaction.atomic(), audit.savepoint(), _unit(), rows.collected():
                        job.result = job.work()
                except Exception as exc:  # the piece is rolled back alone; its caller gets the error
                    job.error = exc
                if connection.needs_rollback:  # a savepoint could not be rolled back: give up the batch
                    raise DatabaseError("the write transaction was aborted")
    except Exception as exc:
        _run_each_alone(jobs, exc)
        return
    for job in jobs:
        if is_transient(job.error):
            job.error, job.result = None, None
            _run_alone(job)


def _run_each_alone(jobs: list[_Job[Any]], exc: Exception) -> None:
    """Nothing of a batch is stored: run again, one at a time, every piece that had not failed on its
    own (a piece that raised keeps its error: it would raise again)."""
    log.warning("db: a batch of %d writes failed (%s); running them one by one", len(jobs), type(exc).__name__)
    _reconnect()
    for job in jobs:
        if job.error is None or isinstance(job.error, DatabaseError):
            job.error, job.result = None, None
            _run_alone(job)


def _run_alone(job: _Job[Any]) -> None:
    """Run one piece in a transaction of its own, again while it is only a deadlock's victim."""
    from hotline.audit import log as audit

    for attempt in range(TRANSIENT_RETRIES):
        try:
            with write_turn(), transaction.atomic(), audit.batch(), _unit(), rows.collected():
                job.result = job.work()
            job.error = None
            return
        except Exception as single:
            job.error, job.result = single, None
            if isinstance(single, DatabaseError):
                _reconnect()
            if not is_transient(single) or attempt == TRANSIENT_RETRIES - 1:
                return
            log.info("db: a write was a deadlock's victim; running it again (%d)", attempt + 1)


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


# --- the writer process --------------------------------------------------------------------------
#
# On SQLite, ``hotline serve`` runs one writer process (``hotline writer``) and points the web
# processes at it with HOTLINE_WRITER_SOCKET. Their ``run_write`` calls travel over a Unix socket as
# pickled (function, arguments); the writer process gathers whatever requests are waiting, runs them
# with :func:`run_batch` (the same group commit as the writer thread) and answers each one after the
# commit. The writer never competes for a GIL with request threads, and only one process takes the
# write turn for the busy paths instead of each web process in alternation.
#
# A frame is a 4-byte big-endian length and a pickle. The socket is created 0600, and the writer
# accepts only peers running as its own user (SO_PEERCRED): whoever could connect otherwise could
# read the keys in the data directory anyway.

MAX_FRAME = 64 * 1024 * 1024
CONNECT_WAIT = 3.0  # seconds a caller waits for the writer to (re)start before the database counts as down
REPLY_TIMEOUT = 60.0
READ_TIMEOUT = 10.0  # the writer's wait for the rest of a request whose first bytes have arrived
_HEADER = struct.Struct(">I")


class WriterUnavailable(DatabaseError):
    """The writer process could not be reached, or went away before answering."""


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _receive(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ConnectionError(f"a frame of {size} bytes is larger than allowed")
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the connection was closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Remote:
    """A web process's side of the writer process: one connection per thread, reused."""

    def __init__(self) -> None:
        self._local = threading.local()

    def call(self, address: str, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        try:
            request = pickle.dumps((work, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(f"work for the writer process must be a module-level function, picklable: {exc}") from None
        sock = self._connection(address)
        try:
            _send(sock, request)
            reply = _receive(sock)
        except OSError as exc:
            self._drop()
            raise WriterUnavailable(f"the writer process went away before answering ({type(exc).__name__})") from None
        ok, value = pickle.loads(reply)  # noqa: S301 (from our own writer process, a peer checked by uid)
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _connection(self, address: str) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None and getattr(self._local, "address", None) == address and _idle_and_open(sock):
            return sock
        self._drop()
        deadline = time.monotonic() + CONNECT_WAIT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(address)
            except OSError as exc:
                sock.close()
                if time.monotonic() >= deadline:
                    raise WriterUnavailable(f"the writer process is not answering ({type(exc).__name__})") from None
                time.sleep(0.05)
                continue
            sock.settimeout(REPLY_TIMEOUT)
            self._local.sock, self._local.address = sock, address
            return sock

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _idle_and_open(sock: socket.socket) -> bool:
    """Between calls nothing should arrive; a readable connection is one the writer closed (it restarted).
    (``poll``, not ``select``: a busy web process may hold more than 1,024 descriptors.)"""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


_remote = _Remote()


class WriterServer:
    """The writer process's loop: accept web processes, run what they send in group commits."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._stop = threading.Event()
        # stop() wakes the loop at once (it may be called from a signal handler while it waits).
        self._wake, self._waker = socket.socketpair()
        self._waker.setblocking(False)
        self.batches = 0

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # already woken (buffer full) or closed
            self._waker.send(b"x")

    def serve(self, ready: Callable[[], None] | None = None) -> None:
        _writing_thread()
        connection.close()  # one opened before this thread was the writer's has the readers' cache
        path = Path(self.address)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a socket left by a writer that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.address)
        finally:
            os.umask(old_umask)
        os.chmod(self.address, 0o600)
        listener.listen(256)
        listener.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        selector.register(self._wake, selectors.EVENT_READ)
        log.info("db: the writer process is serving on %s", self.address)
        if ready is not None:
            ready()
        try:
            while not self._stop.is_set():
                waiting: list[tuple[socket.socket, _Job[Any]]] = []
                events = selector.select(timeout=0.5)
                while events:
                    accepted = False
                    for key, _ in events:
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is listener:
                            accepted = self._accept(listener, selector)
                            continue
                        if sock is self._wake:  # stop(): the loop's condition says so
                            continue
                        job = self._read_request(sock, selector)
                        if job is not None:
                            waiting.append((sock, job))
                    # New connections bring their first requests: gather those into this batch too.
                    events = selector.select(timeout=0) if accepted else []
                for start in range(0, len(waiting), MAX_BATCH):
                    part = waiting[start : start + MAX_BATCH]
                    run_batch([job for _, job in part])
                    self.batches += 1
                    for sock, job in part:
                        self._answer(sock, job, selector)
        finally:
            for key in list(selector.get_map().values()):
                with contextlib.suppress(OSError):
                    key.fileobj.close()  # type: ignore[union-attr]
            selector.close()
            self._waker.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _reconnect()

    @staticmethod
    def _accept(listener: socket.socket, selector: selectors.BaseSelector) -> bool:
        """Accept every connection waiting; True if there was any."""
        accepted = False
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # BlockingIOError: none left
                return accepted
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                log.warning("db: refused a connection to the writer from another user (uid %d)", uid)
                sock.close()
                continue
            sock.setblocking(True)
            sock.settimeout(READ_TIMEOUT)
            selector.register(sock, selectors.EVENT_READ)
            accepted = True

    @staticmethod
    def _close(sock: socket.socket, selector: selectors.BaseSelector) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _read_request(self, sock: socket.socket, selector: selectors.BaseSelector) -> _Job[Any] | None:
        try:
            frame = _receive(sock)
        except OSError:  # the web process went away (or sent something that is not a frame)
            self._close(sock, selector)
            return None
        try:
            work, args, kwargs = pickle.loads(frame)  # noqa: S301 (a peer running as our own user)
            if not callable(work):
                raise TypeError("the request names no function")
        except Exception as exc:
            job: _Job[Any] = _Job(lambda: None)
            job.error = TypeError(f"the writer could not read the request ({type(exc).__name__})")
            self._answer(sock, job, selector)
            return None
        return _Job(functools.partial(work, *args, **kwargs))

    def _answer(self, sock: socket.socket, job: _Job[Any], selector: selectors.BaseSelector) -> None:
        reply = _pickled((True, job.result)) if job.error is None else None
        if reply is None:
            error = job.error or TypeError("the result could not be sent back")
            # An exception must also unpickle on the other side (its __init__ is called again there).
            reply = _pickled((False, error), check=True) or pickle.dumps(
                (False, RuntimeError(f"{type(error).__name__} (not transferable)"))
            )
        try:
            _send(sock, reply)
        except OSError:  # the caller went away; what it asked for is committed all the same
            self._close(sock, selector)


def _pickled(value: object, *, check: bool = False) -> bytes | None:
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if check:
            pickle.loads(data)  # noqa: S301 (our own bytes)
        return data
    except Exception:
        return None
