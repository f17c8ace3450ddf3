"""Helpers for the tests that run the hotline as real processes: wait on what the processes say or
do, never on the clock.

Every wait is for an event (a line of output, a condition that becomes true) and ends as soon as it
happens; a process that exits while it is waited for fails the wait at once. The bound each wait
has (:data:`WAIT`) is only there so that a hung run ends: it is far above what any step takes, on a
loaded machine too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

WAIT = 600.0  # seconds; an upper bound for a hung run, never a step's expected duration


def wait_until(condition: Callable[[], bool], what: str, *, unless_exited: subprocess.Popen[Any] | None = None) -> None:
    """Poll ``condition`` until it holds; fail at once if ``unless_exited`` exits meanwhile."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if unless_exited is not None and unless_exited.poll() is not None:
            raise AssertionError(f"the process exited (status {unless_exited.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {WAIT:.0f} s")
        time.sleep(0.05)


def is_dead(pid: int) -> bool:
    """Gone, or a zombie whose every thread has exited too (only then has it released what it held:
    the leader of a killed multi-threaded process shows as a zombie while its threads still exit)."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return False
    except (FileNotFoundError, ProcessLookupError):
        return True
    return True


def _running() -> Iterator[tuple[int, list[str]]]:
    """Every process that is not a zombie, with the fields of its ``/proc/PID/stat`` after the name."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] not in ("Z", "X"):
                yield int(entry), fields


def children_of(pid: int) -> list[int]:
    return [child for child, fields in _running() if int(fields[1]) == pid]


def alive_in_session(session: int) -> list[int]:
    """Processes of a session (``start_new_session`` made it the leader's pid) that still run."""
    return [member for member, fields in _running() if int(fields[3]) == session]


def listening_sockets(port: int) -> set[str]:
    """The inodes of the TCP sockets listening on ``port`` (from /proc/net): a socket leaves the
    table when it is closed, whatever state its process is in."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except FileNotFoundError:
            continue
    return inodes


def listening_sockets_of(pid: int, port: int) -> set[str]:
    """Which of those ``pid`` holds."""
    inodes = listening_sockets(port)
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return set()
    return {link[8:-1] for link in links if link.startswith("socket:[") and link[8:-1] in inodes}


class Served:
    """``hotline serve`` in a session of its own; its output (stdout and stderr, its children's too)
    is read line by line on a thread, so a test can wait for a line as an event."""

    def __init__(self, env: dict[str, str], *args: str, python: list[str] | None = None) -> None:
        """``python``: what runs the ``hotline`` command (``-m hotline`` unless given)."""
        self.data_dir = Path(env["HOTLINE_DATA_DIR"])
        self.proc = subprocess.Popen(
            [sys.executable, *(python or ["-m", "hotline"]), "serve", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for_output(self, text: str) -> None:
        """Until ``text`` appears in the output; fails at once if serve exits first."""
        with self._changed:
            self._changed.wait_for(lambda: text in "".join(self._lines) or self._ended, timeout=WAIT)
            if text not in "".join(self._lines):
                ended = "serve exited" if self._ended else f"not within {WAIT:.0f} s"
                raise AssertionError(f"{text!r} never appeared ({ended}):\n{''.join(self._lines)}")

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        wait_until(condition, what, unless_exited=self.proc)

    def status(self) -> dict[str, Any]:
        """What serve says about its children (``down``, ``pids``)."""
        return dict(json.loads((self.data_dir / "serve-status.json").read_text()))

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as an operator or systemd stops it; its exit status and everything it said."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        return self.proc.returncode, self.output

    def kill_everything(self) -> None:
        """After a failed test: nothing of the session is left running."""
        for pid in alive_in_session(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait()
