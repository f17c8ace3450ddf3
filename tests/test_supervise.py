"""The supervisor behind ``hotline serve`` (hotline/worker/supervise.py) with small stand-in children
and a clock the test moves, and what /healthz makes of its status file. The real thing, kill -9 and
all, is in test_processes.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from hotline.worker.supervise import Backoff, Child, Supervisor, describe_exit
from tests.process_support import children_of, is_dead, wait_until

SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(60)"]
# A child that starts a grandchild of its own (as granian starts its worker) and waits for it.
PARENT = [
    sys.executable,
    "-c",
    "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import time\\nwhile True: time.sleep(60)'])",
]


def test_the_pause_doubles_while_a_child_keeps_exiting_up_to_a_cap() -> None:
    backoff = Backoff(initial=1, maximum=60)
    assert [backoff.after_exit(ran_for=0.5) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert [backoff.after_exit(ran_for=0.5) for _ in range(1000)][-1] == 60


def test_a_child_that_ran_for_a_while_starts_over_from_the_shortest_pause() -> None:
    backoff = Backoff(initial=1, maximum=60, healthy_after=60)
    for _ in range(5):
        backoff.after_exit(ran_for=3)
    assert backoff.after_exit(ran_for=59.9) == 32
    assert backoff.after_exit(ran_for=60) == 1
    assert backoff.after_exit(ran_for=1) == 2


def test_exits_are_described_without_anything_else() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "status 1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def supervisor(tmp_path: Path, said: list[str]) -> Iterator[tuple[Supervisor, Clock]]:
    clock = Clock()
    children = [
        Child("writer", "writer process", SLEEPER, dict(os.environ), Backoff(1, 8), stop_last=True),
        Child("web-1", "web process 1", PARENT, dict(os.environ), Backoff(1, 8)),
        Child("worker", "worker", SLEEPER, dict(os.environ), Backoff(1, 8)),
    ]
    sup = Supervisor(children, tmp_path / "serve-status.json", said.append, clock=clock)
    sup.start_all()
    try:
        yield sup, clock
    finally:
        sup.stop_all()


def _status(sup: Supervisor) -> dict[str, Any]:
    return dict(json.loads(sup.status_path.read_text()))


def _killed_and_noticed(sup: Supervisor, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: (sup.check(), pid not in _status(sup)["pids"].values())[1], "the exit noticed")


def test_a_child_that_exits_is_started_again_after_its_pause_and_reported_down_meanwhile(
    supervisor: tuple[Supervisor, Clock], said: list[str]
) -> None:
    sup, clock = supervisor
    sup.check()
    assert _status(sup)["down"] == []
    first = _status(sup)["pids"]["worker"]
    for attempt, pause in enumerate((1, 2, 4, 8, 8), start=1):
        pid = _status(sup)["pids"]["worker"]
        _killed_and_noticed(sup, pid)
        assert _status(sup)["down"] == ["worker"]
        assert said[-1] == f"the worker exited (killed by SIGKILL); starting it again in {pause} s"
        clock.now += pause - 0.01
        sup.check()
        assert _status(sup)["down"] == ["worker"], "not before its pause is over"
        clock.now += 0.01
        sup.check()
        sup.check()
        assert _status(sup)["down"] == [] and _status(sup)["pids"]["worker"] not in (pid, first)
        assert said[-1] == f"the worker was started again (restart {attempt})"
    assert sorted(_status(sup)["pids"]) == ["web-1", "worker", "writer"], "the others ran on untouched"


def test_what_a_child_started_goes_with_it(supervisor: tuple[Supervisor, Clock]) -> None:
    sup, _clock = supervisor
    web = _status(sup)["pids"]["web-1"]
    wait_until(lambda: len(children_of(web)) == 1, "the grandchild started")
    [grandchild] = children_of(web)
    _killed_and_noticed(sup, web)
    wait_until(lambda: is_dead(grandchild), "the grandchild killed with its parent's group")


def test_stopping_stops_every_child_and_what_they_started_and_removes_the_status(
    supervisor: tuple[Supervisor, Clock],
) -> None:
    sup, _clock = supervisor
    pids = list(_status(sup)["pids"].values())
    web = _status(sup)["pids"]["web-1"]
    wait_until(lambda: len(children_of(web)) == 1, "the grandchild started")
    pids += children_of(web)
    _killed_and_noticed(sup, _status(sup)["pids"]["writer"])  # down and waiting: stopping does not wait for it
    sup.stop_all()
    # The children were waited for; what they started was killed with their groups and dies as the
    # kernel gets to it.
    wait_until(lambda: all(is_dead(pid) for pid in pids), "every process gone")
    assert not sup.status_path.exists() and not sup.ready_dir.exists()


def test_healthz_reports_what_serve_says_is_down(client: Client, db: None, settings: Any, tmp_path: Path) -> None:
    status = tmp_path / "serve-status.json"
    settings.HOTLINE_SERVE_STATUS = status
    status.write_text(json.dumps({"down": [], "pids": {"web-1": 1}}))
    assert (client.get("/healthz").status_code, client.get("/healthz").json()) == (200, {"status": "ok"})
    status.write_text(json.dumps({"down": ["writer", "web-2"], "pids": {"web-1": 1}}))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "down", "down": ["writer", "web-2"]}
    status.unlink()  # serve is gone
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "down", "down": ["serve"]}
    settings.HOTLINE_SERVE_STATUS = None  # not run by serve: the database alone decides
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_child_the_system_cannot_start_is_tried_again_later_and_the_others_run(
    tmp_path: Path, said: list[str]
) -> None:
    clock = Clock()
    missing = Child("worker", "worker", [str(tmp_path / "no-such-program")], dict(os.environ), Backoff(1, 8))
    other = Child("web-1", "web process 1", SLEEPER, dict(os.environ), Backoff(1, 8))
    sup = Supervisor([missing, other], tmp_path / "serve-status.json", said.append, clock=clock)
    try:
        sup.start_all()
        sup.check()
        assert said == ["the worker could not be started (No such file or directory); trying again in 1 s"]
        assert _status(sup)["down"] == ["worker"] and list(_status(sup)["pids"]) == ["web-1"]
        clock.now += 1
        sup.check()
        assert said[-1] == "the worker could not be started (No such file or directory); trying again in 2 s"
    finally:
        sup.stop_all()


def test_a_status_file_that_cannot_be_written_does_not_stop_the_supervisor(
    supervisor: tuple[Supervisor, Clock], said: list[str], tmp_path: Path
) -> None:
    sup, clock = supervisor
    sup.check()
    sup.status_path = tmp_path / "gone" / "serve-status.json"  # its directory is not there
    _killed = sup.children[2].process
    assert _killed is not None
    os.kill(_killed.pid, signal.SIGKILL)
    wait_until(lambda: (sup.check(), sup.children[2].process is None)[1], "the exit noticed")
    assert "could not write the status file (No such file or directory)" in " ".join(said)
    clock.now += 1
    sup.check()
    assert sup.children[2].process is not None and said[-1] == "the worker was started again (restart 1)"


# --- children forked from the supervisor (what `hotline serve` does) ----------------------------------


def _forked(name: str, run: Callable[[], int | None], env: dict[str, str] | None = None) -> Child:
    return Child(name, name, [], dict(os.environ) if env is None else env, Backoff(1, 8), run=run)


def _raises() -> int:
    raise RuntimeError("broken on purpose")


def _exits() -> int:
    sys.exit(4)


def _exits_for_the_log_only() -> int:
    return 3


def _wait_for_exits(sup: Supervisor, said: list[str], count: int) -> None:
    wait_until(lambda: (sup.check(), len([s for s in said if " exited (" in s]) >= count)[1], "the exits noticed")


def test_a_forked_child_exits_with_its_function_s_status_and_a_failure_s_traceback_in_the_log(
    tmp_path: Path, said: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    children = [
        _forked("returns", _exits_for_the_log_only),
        _forked("exits", _exits),
        _forked("raises", _raises),
        _forked("returns-nothing", lambda: None),
    ]
    sup = Supervisor(children, tmp_path / "serve-status.json", said.append, clock=Clock())
    try:
        sup.start_all()
        _wait_for_exits(sup, said, 4)
    finally:
        sup.stop_all()
    assert sorted(said) == [
        "the exits exited (status 4); starting it again in 1 s",
        "the raises exited (status 1); starting it again in 1 s",
        "the returns exited (status 3); starting it again in 1 s",
        "the returns-nothing exited (status 0); starting it again in 1 s",
    ]
    err = capfd.readouterr().err
    assert "RuntimeError: broken on purpose" in err and err.count("Traceback") == 1


def _write_environment_and_wait(path: Path) -> Callable[[], int]:
    def run() -> int:
        path.write_text(os.environ["HOTLINE_TEST_MARK"])
        subprocess.run(SLEEPER, check=False)  # a grandchild, as granian's worker
        return 0

    return run


def test_a_forked_child_has_its_environment_and_a_group_of_its_own_and_stops_on_sigterm_not_on_serve_s_handler(
    tmp_path: Path, said: list[str]
) -> None:
    """serve handles SIGTERM itself (it stops its children); a forked child must not inherit that
    handler, or it would only set serve's flag and keep running until killed."""
    stops: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stops.append(signum))
    mark = tmp_path / "mark"
    child = _forked("worker", _write_environment_and_wait(mark), env={**os.environ, "HOTLINE_TEST_MARK": "given"})
    sup = Supervisor([child], tmp_path / "serve-status.json", said.append, clock=Clock())
    try:
        sup.start_all()
        assert child.process is not None
        pid = child.process.pid
        wait_until(lambda: len(children_of(pid)) == 1, "the grandchild started")
        [grandchild] = children_of(pid)
        assert mark.read_text() == "given"
        assert os.getpgid(pid) == pid and os.getpgid(grandchild) == pid
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "hotline-worker"
        assert "HOTLINE_TEST_MARK" not in os.environ, "the child's environment is its own"
        sup.stop_all()
        wait_until(lambda: is_dead(grandchild), "the grandchild killed with its parent's group")
    finally:
        signal.signal(signal.SIGTERM, previous)
        sup.stop_all()
    assert stops == [], "the supervisor's own handler did not run"
    assert said == ["the worker stopped with killed by SIGTERM"]


def test_a_forked_child_that_is_killed_is_forked_again(supervisor_forked: tuple[Supervisor, Clock]) -> None:
    sup, clock = supervisor_forked
    first = _status(sup)["pids"]["worker"]
    _killed_and_noticed(sup, first)
    clock.now += 1
    sup.check()
    assert _status(sup)["pids"]["worker"] != first and not is_dead(_status(sup)["pids"]["worker"])


def _sleep_forever() -> int:
    while True:
        time.sleep(60)


@pytest.fixture
def supervisor_forked(tmp_path: Path, said: list[str]) -> Iterator[tuple[Supervisor, Clock]]:
    clock = Clock()
    sup = Supervisor([_forked("worker", _sleep_forever)], tmp_path / "serve-status.json", said.append, clock=clock)
    sup.start_all()
    try:
        yield sup, clock
    finally:
        sup.stop_all()
