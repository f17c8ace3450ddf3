"""Keeping ``hotline serve``'s children running: the web processes, the writer and the worker.

A child that exits without being asked to (killed for memory, a crash) is started again after a
pause that doubles with each exit in a row, from ``HOTLINE_RESTART_DELAY_SECONDS`` up to
``HOTLINE_RESTART_DELAY_MAX_SECONDS``; a child that ran for a minute (:data:`HEALTHY_AFTER`) before
exiting starts over from the shortest pause. Nothing makes the supervisor give up: it stops only
when asked (SIGTERM, Ctrl-C).

A child is started in one of two ways. ``hotline serve`` forks its children from itself
(:class:`ForkedProcess`, ``Child.run``): it has loaded Django, the application and what its children
load at start (the knowledge base, aiogram when the bot is on) before the first fork, so the children
share those pages with it and with each other instead of each loading its own copy (docs/operations.md,
"Footprint"); a restarted child is forked again from the same loaded state, so it is ready at once. A
child with a ``command`` instead is a new program (``subprocess``); the tests' stand-ins are.

Each child runs in a process group of its own, so what it started itself (granian's worker
process) goes with it: when a child exits, whatever is left of its group is killed before the
child is reaped (the group cannot be reused meanwhile), and nothing of an old web process keeps
listening beside the new one.

While a child is down (waiting for its restart, or started but not ready yet) it is listed in a
small status file (JSON, mode 0600) that ``/healthz`` reads: ``{"down": ["worker"], "pids":
{"web-1": 123, …}}``. A web process is ready once its worker has loaded the application: the worker
then leaves a mark named after the web process's pid in a directory beside the status file
(:func:`mark_web_ready`, called by ``hotline/wsgi.py``); the worker leaves one named after itself
once it works (:func:`mark_ready`). The log says which child exited and how (a
status or a signal), and when it is started again; nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

HEALTHY_AFTER = 60.0  # seconds a child must run for its next exit to count as the first in a row
STOP_TIMEOUT = 15.0  # seconds a child has to stop after SIGTERM before its process group is killed


@dataclass
class Backoff:
    """How long to wait before starting a child again: ``initial``, doubling with each exit in a
    row up to ``maximum``; an exit after a run of ``healthy_after`` seconds or more starts over."""

    initial: float
    maximum: float
    healthy_after: float = HEALTHY_AFTER
    exits_in_a_row: int = 0

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.exits_in_a_row = 0
        self.exits_in_a_row += 1
        return float(min(self.maximum, self.initial * 2.0 ** min(self.exits_in_a_row - 1, 64)))


class Process(Protocol):
    """What the supervisor needs of a started child: a :class:`subprocess.Popen` or a :class:`ForkedProcess`."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def args(self) -> object: ...

    def wait(self, timeout: float | None = None) -> int: ...


class ForkedProcess:
    """A child forked from this process, running a function (``run``) instead of a new program.

    The signals that stop the supervisor are blocked around the fork, so a SIGTERM that arrives
    meanwhile waits for the child's own handlers (default until the function installs its own) instead
    of running the supervisor's in the child. The child gets a process group of its own (set on both
    sides of the fork, so a group kill cannot miss it), the environment ``env``, and exits with the
    function's status through ``os._exit``: it never returns into the supervisor's code, and what the
    supervisor registered to run at its exit does not run in the child.
    """

    def __init__(self, run: Callable[[], int | None], env: dict[str, str], label: str, name: str = "") -> None:
        self.args = label
        self.returncode: int | None = None
        for stream in (sys.stdout, sys.stderr):  # or their buffers would be written twice
            with contextlib.suppress(Exception):
                stream.flush()
        stopping = {signal.SIGTERM, signal.SIGINT}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
        try:
            pid = os.fork()
            if pid == 0:  # the child
                _run_forked(run, env, stopping, previous, name)
            self.pid = pid
            with contextlib.suppress(OSError):  # the child may have set it already, or exited
                os.setpgid(pid, pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit (``timeout`` is not supported: callers wait with :func:`_exited`)."""
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped already
                status = 0
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _run_forked(
    run: Callable[[], int | None],
    env: dict[str, str],
    stopping: set[signal.Signals],
    mask: set[int | signal.Signals],
    name: str,
) -> None:
    status = 1
    try:
        os.setpgid(0, 0)
        if name:  # what top, ps -o comm and the kernel's OOM report call it, instead of serve's name
            with contextlib.suppress(OSError):
                Path("/proc/self/comm").write_text(f"hotline-{name}"[:15])
        for signum in stopping:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.environ.clear()
        os.environ.update(env)
        result = run()
        status = result if isinstance(result, int) else 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # whatever it was, the child ends here, with its traceback in the log
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)


def ready_dir(status_path: Path) -> Path:
    return status_path.with_name(status_path.name + ".ready")


def mark_ready(status_path: Path, pid: int) -> None:
    """Tell ``hotline serve`` that its child ``pid`` is ready (a mark named after it)."""
    with contextlib.suppress(OSError):  # serve is stopping, or gone: nothing to tell
        (ready_dir(status_path) / str(pid)).touch()


def mark_web_ready(status_path: Path) -> None:
    """Called in a granian worker once the application is loaded: its parent, the web process
    ``hotline serve`` started, is ready."""
    mark_ready(status_path, os.getppid())


def marked_ready(status_path: Path, child: Child) -> bool:
    return child.process is not None and (ready_dir(status_path) / str(child.process.pid)).exists()


def _always_ready() -> bool:
    return True


def _nothing() -> None:
    return None


@dataclass
class Child:
    """One supervised process. ``name`` is what ``/healthz`` and the status file call it (``web-1``,
    ``writer``, ``worker``), ``label`` what the log calls it. It runs ``command`` as a new program, or,
    given ``run``, is forked from the supervisor to run that function (:class:`ForkedProcess`)."""

    name: str
    label: str
    command: list[str]
    env: dict[str, str]
    backoff: Backoff
    run: Callable[[], int | None] | None = None
    # Started and able to work: the writer once its socket exists, a web process once it is marked ready.
    ready: Callable[[], bool] = _always_ready
    before_start: Callable[[], None] = _nothing  # e.g. remove the socket a killed writer left
    stop_last: bool = False  # stopped after the others (the writer, which serves their requests)
    process: Process | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    up: bool = False
    restarts: int = 0


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"status {returncode}"


def _exited(process: Process) -> bool:
    """True when the process has exited, without reaping it: its process id (and so its process
    group's) stays taken until :func:`_reap`, so the group can be killed safely."""
    if process.returncode is not None:
        return True
    try:
        result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return result is not None


def _reap(process: Process) -> int:
    """Kill what is left of the process's group, then collect its exit status."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


class Supervisor:
    def __init__(
        self,
        children: Iterable[Child],
        status_path: Path,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = list(children)
        self.status_path = status_path
        self.say = say
        self.clock = clock
        self._written: str | None = None
        self._status_error: str | None = None
        self.ready_dir = ready_dir(status_path)

    # --- state ---------------------------------------------------------------------------------------

    def down(self) -> list[str]:
        return [child.name for child in self.children if not child.up]

    def write_status(self) -> None:
        pids = {c.name: c.process.pid for c in self.children if c.process is not None and c.process.returncode is None}
        text = json.dumps({"down": self.down(), "pids": pids}, sort_keys=True)
        if text == self._written:
            return
        tmp = self.status_path.with_name(f".{self.status_path.name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
            os.replace(tmp, self.status_path)
        except OSError as exc:  # a full disk must not stop the supervisor; it tries again next time
            if self._status_error != exc.strerror:
                self.say(f"could not write the status file ({exc.strerror}); /healthz may be out of date")
            self._status_error = exc.strerror
            return
        self._written, self._status_error = text, None

    def remove_status(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.status_path.unlink()
        shutil.rmtree(self.ready_dir, ignore_errors=True)

    # --- running -------------------------------------------------------------------------------------

    def start(self, child: Child) -> bool:
        """Start ``child``; if the system refuses (no memory for a new process, say), schedule
        another try as if it had exited at once."""
        child.up = False
        try:
            child.before_start()
            if child.run is not None:
                child.process = ForkedProcess(child.run, child.env, child.label, child.name)
            else:
                child.process = subprocess.Popen(child.command, env=child.env, process_group=0)  # noqa: S603
        except OSError as exc:
            now = self.clock()
            delay = child.backoff.after_exit(0.0)
            child.process, child.restart_at = None, now + delay
            self.say(f"the {child.label} could not be started ({exc.strerror}); trying again in {delay:g} s")
            return False
        child.started_at = self.clock()
        return True

    def start_all(self) -> None:
        shutil.rmtree(self.ready_dir, ignore_errors=True)  # marks a killed serve left
        with contextlib.suppress(FileExistsError):
            self.ready_dir.mkdir(mode=0o700)
        self.write_status()
        for child in self.children:
            self.start(child)
        self.write_status()

    def check(self) -> None:
        """One look at every child: note the ready ones, restart those whose pause is over, and
        schedule a restart for those that exited."""
        now = self.clock()
        for child in self.children:
            process = child.process
            if process is None:
                if now >= child.restart_at:
                    child.restarts += 1
                    if self.start(child):
                        self.say(f"the {child.label} was started again (restart {child.restarts})")
                continue
            if _exited(process):
                with contextlib.suppress(FileNotFoundError):
                    (self.ready_dir / str(process.pid)).unlink()
                status = describe_exit(_reap(process))
                delay = child.backoff.after_exit(now - child.started_at)
                child.process, child.up, child.restart_at = None, False, now + delay
                self.say(f"the {child.label} exited ({status}); starting it again in {delay:g} s")
            elif not child.up and child.ready():
                child.up = True
        self.write_status()

    def run(self, stopping: Callable[[], bool], interval: float = 0.2, on_tick: Callable[[], None] = _nothing) -> None:
        """Supervise until ``stopping()``; then stop every child (the ``stop_last`` ones last)."""
        try:
            while not stopping():
                self.check()
                on_tick()
                time.sleep(interval)
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        for last in (False, True):
            group = [c for c in self.children if c.stop_last is last and c.process is not None]
            for child in group:
                assert child.process is not None
                if not _exited(child.process):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.process.pid, signal.SIGTERM)  # not send_signal(): it would reap
            deadline = self.clock() + STOP_TIMEOUT
            for child in group:
                assert child.process is not None
                try:
                    _wait_without_reaping(child.process, max(0.0, deadline - self.clock()))
                except subprocess.TimeoutExpired:
                    self.say(f"the {child.label} did not stop within {STOP_TIMEOUT:g} s; killing it")
                status = _reap(child.process)
                if status != 0:  # a clean stop is status 0; anything else is worth a line in the log
                    self.say(f"the {child.label} stopped with {describe_exit(status)}")
                child.process, child.up = None, False
        self.remove_status()


def _wait_without_reaping(process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _exited(process):
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(str(process.args), timeout)
        time.sleep(0.05)
