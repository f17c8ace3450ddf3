"""The `hotline` command as a person runs it: fresh data directory, setup, serve, stop; and serve
keeping its children running whatever happens to them.

Nothing here waits on the clock: each step waits for what it needs (a line of output, a process that
answers, a status that changes), bounded only against a hung run (tests/process_support.py).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.process_support import (
    WAIT,
    Served,
    alive_in_session,
    children_of,
    is_dead,
    listening_sockets,
    listening_sockets_of,
    wait_until,
)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "DJANGO_"))}
    env["HOTLINE_DATA_DIR"] = str(data_dir)
    return env


def _hotline(data_dir: Path, *args: str, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline", *args], env=_env(data_dir), capture_output=True, text=True, timeout=timeout
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _serve(env: dict[str, str], *args: str) -> Served:
    """``hotline serve`` in a session of its own, once it says it is serving: it prints its banner
    when the web server answers and every process it runs is up."""
    served = Served(env, *args)
    try:
        served.wait_for_output("Hotline is serving on")
    except BaseException:
        served.kill_everything()
        raise
    return served


def test_setup_on_a_fresh_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "var"
    (tmp_path / "pw").write_text("a long enough password")
    done = _hotline(data, "setup", "--username", "admin", "--password-file", str(tmp_path / "pw"), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["username"] == "admin" and len(result["recovery_key"].replace("-", "")) == 53
    assert (data / "hotline.sqlite3").exists()
    for name in ("transport.key", "index.key", "audit.key", "secret_key"):
        assert (data / "keys" / name).stat().st_mode & 0o777 == 0o600
    assert (data / "hotline.sqlite3").stat().st_mode & 0o077 == 0

    again = _hotline(data, "setup", "--username", "admin2", "--password-file", str(tmp_path / "pw"), "--json")
    assert again.returncode != 0 and "already set up" in again.stderr

    verify = _hotline(data, "audit", "verify")
    assert verify.returncode == 0 and "Audit log intact: 2 event(s)" in verify.stdout


@pytest.mark.slow
def test_serve_runs_web_and_worker_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    served = _serve(_env(tmp_path / "var"), "--port", str(port), "--workers", "2")
    try:
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and page
        assert (tmp_path / "var" / "writer.sock").is_socket(), "on SQLite the writer process serves"
        assert served.status()["down"] == []

        # The worker ran its first jobs (every one is due at once).
        def first_jobs_done() -> bool:
            done = _hotline(
                tmp_path / "var",
                "shell",
                "-c",
                "from hotline.worker.models import ScheduledJob as J; "
                "print(J.objects.count(), J.objects.filter(last_finished_at__isnull=True).count())",
            )
            total, unfinished = map(int, done.stdout.strip().splitlines()[-1].split())
            return total >= 4 and unfinished == 0

        served.wait_until(first_jobs_done, "the worker's first jobs were done")

        returncode, out = served.stop()
        assert returncode == 0, out
        assert "Hotline is serving on" in out
        # setup needs the server's data directory: the command shown says so.
        assert f"HOTLINE_DATA_DIR={tmp_path / 'var'} .venv/bin/hotline setup" in out
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/healthz")
        assert not (tmp_path / "var" / "writer.sock").exists()
        assert not (tmp_path / "var" / "serve-status.json").exists()
        # serve waited for every child and killed what was left of their groups: nothing stays.
        wait_until(lambda: alive_in_session(served.proc.pid) == [], "nothing of serve left")
    finally:
        served.kill_everything()


def _web_worker(served: Served, name: str) -> int:
    """The granian worker process of web process ``name`` (the one that holds the memory an OOM
    kill would go for), once it listens."""
    [worker] = children_of(served.status()["pids"][name])
    return worker


def _restarted(served: Served, name: str, before: int) -> bool:
    status = served.status()
    return status["pids"].get(name, before) != before and name not in status["down"]


def _kill_and_see_it_restarted(served: Served, name: str, victim: int) -> None:
    """kill -9 ``victim`` (the child ``name`` or, for a web process, its worker); wait until it is
    gone and serve has started ``name`` again and sees it ready."""
    before = served.status()["pids"][name]
    os.kill(victim, signal.SIGKILL)
    served.wait_until(lambda: is_dead(victim), f"the killed process of {name} gone")
    served.wait_until(lambda: _restarted(served, name, before), f"{name} started again")


def _kill_a_web_worker_while_the_other_serves(served: Served, port: int, name: str, other: str) -> None:
    other_worker = _web_worker(served, other)
    served.wait_until(lambda: bool(listening_sockets_of(other_worker, port)), f"{other} listening")
    victim = _web_worker(served, name)
    served.wait_until(lambda: bool(listening_sockets_of(victim, port)), f"{name} listening")
    its_socket = listening_sockets_of(victim, port)
    before = served.status()["pids"][name]
    os.kill(victim, signal.SIGKILL)
    served.wait_until(lambda: not its_socket & listening_sockets(port), f"{name}'s socket closed")
    assert _get(f"http://127.0.0.1:{port}/en/")[0] == 200, f"{other} serves while {name} is down"
    served.wait_until(lambda: _restarted(served, name, before), f"{name} started again")


@pytest.mark.slow
def test_serve_restarts_any_child_that_dies_again_and_again_and_keeps_serving(tmp_path: Path) -> None:
    """kill -9 of a web worker, the worker and the writer, three times each: serve starts each again
    (granian alone would give up after two quick crashes of a worker) and the other web process
    serves meanwhile. One more kill -9, of a web process's granian parent, leaves no worker behind."""
    port = _free_port()
    env = _env(tmp_path / "var") | {"HOTLINE_RESTART_DELAY_SECONDS": "0.05", "HOTLINE_RESTART_DELAY_MAX_SECONDS": "1"}
    served = _serve(env, "--port", str(port), "--workers", "2")
    try:
        for _round in range(3):
            _kill_a_web_worker_while_the_other_serves(served, port, "web-1", "web-2")
            _kill_a_web_worker_while_the_other_serves(served, port, "web-2", "web-1")
            for name in ("worker", "writer"):
                _kill_and_see_it_restarted(served, name, served.status()["pids"][name])
                assert _get(f"http://127.0.0.1:{port}/en/")[0] == 200

        # The web process itself (granian's parent) killed: its orphaned worker must not keep listening.
        orphan = _web_worker(served, "web-1")
        _kill_and_see_it_restarted(served, "web-1", served.status()["pids"]["web-1"])
        served.wait_until(lambda: is_dead(orphan), "the orphaned worker gone")

        served.wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, "healthy again")
        assert json.loads(_get(f"http://127.0.0.1:{port}/healthz")[1]) == {"status": "ok"}
        returncode, out = served.stop()
        assert returncode == 0, out
        for label in ("web process 1", "web process 2", "worker", "writer process"):
            assert out.count(f"the {label} exited") >= 3, (label, out)
        assert "killed by SIGKILL" in out and "starting it again in" in out
        assert "crash loop" not in out
        wait_until(lambda: alive_in_session(served.proc.pid) == [], "nothing of serve left")
    finally:
        served.kill_everything()


@pytest.mark.slow
def test_healthz_names_what_is_down_until_serve_starts_it_again_and_serve_stops_when_asked(tmp_path: Path) -> None:
    """With an hour's pause before a restart, what was killed stays down: /healthz says which, the
    pages are still served, and SIGTERM stops serve at once all the same."""
    port = _free_port()
    env = _env(tmp_path / "var") | {
        "HOTLINE_RESTART_DELAY_SECONDS": "3600",
        "HOTLINE_RESTART_DELAY_MAX_SECONDS": "3600",
    }
    served = _serve(env, "--port", str(port), "--workers", "2")
    healthz = f"http://127.0.0.1:{port}/healthz"
    try:
        pids = served.status()["pids"]
        os.kill(pids["worker"], signal.SIGKILL)
        served.wait_until(lambda: _get(healthz)[0] == 503, "/healthz says something is down")
        assert json.loads(_get(healthz)[1]) == {"status": "down", "down": ["worker"]}

        os.kill(pids["writer"], signal.SIGKILL)
        web_2 = _web_worker(served, "web-2")
        os.kill(web_2, signal.SIGKILL)
        served.wait_until(lambda: is_dead(web_2), "web-2's worker gone")
        served.wait_until(lambda: len(served.status()["down"]) == 3, "serve noticed all three")
        assert json.loads(_get(healthz)[1]) == {"status": "down", "down": ["writer", "web-2", "worker"]}
        assert _get(healthz)[0] == 503
        assert _get(f"http://127.0.0.1:{port}/en/")[0] == 200, "web-1 still serves the pages"
        assert "starting it again in 3600 s" in served.output

        returncode, out = served.stop()
        assert returncode == 0, out
        wait_until(lambda: alive_in_session(served.proc.pid) == [], "nothing of serve left")
    finally:
        served.kill_everything()


PLANTED = "Planted-Writer-Name-7731"


def _post_update(port: int, update_id: int, chat_id: int, text: str) -> int:
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": PLANTED},
            "from": {"id": chat_id, "is_bot": False, "first_name": PLANTED, "language_code": "en"},
            "text": text,
        },
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram/webhook",
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "serve-test-secret"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback only)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_serve_starts_the_writer_again_after_kill_9_and_updates_are_stored_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    (tmp_path / "pw").write_text("a long enough password")
    assert _hotline(data, "setup", "--username", "admin", "--password-file", str(tmp_path / "pw")).returncode == 0
    port = _free_port()
    env = _env(data) | {
        "TELEGRAM_BOT_TOKEN": "1:serve-test",
        "TELEGRAM_WEBHOOK_SECRET": "serve-test-secret",
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",  # nothing is delivered: no worker runs
    }
    served = _serve(env, "--no-worker", "--port", str(port), "--workers", "1")
    try:
        assert _post_update(port, 1, 555_123_987, "/start") == 200
        writer = served.status()["pids"]["writer"]
        os.kill(writer, signal.SIGKILL)
        # Telegram retries until it gets a 2xx; a redelivered update is not stored twice.
        statuses = []
        for update_id in (2, 2, 3):
            text = f"yes {PLANTED}" if update_id == 3 else "yes"

            def acknowledged(update_id: int = update_id, text: str = text) -> bool:
                status = _post_update(port, update_id, 555_123_987, text)
                statuses.append(status)
                return status == 200

            served.wait_until(acknowledged, f"update {update_id} acknowledged")
        assert set(statuses) <= {200, 503}, statuses
        stored = _hotline(
            data,
            "shell",
            "-c",
            "from hotline.channels.telegram.models import ProcessedUpdate as P; "
            "print(sorted(P.objects.values_list('update_id', flat=True)))",
        ).stdout.strip()
        assert stored.splitlines()[-1] == "[1, 2, 3]"
        returncode, out = served.stop()
        assert returncode == 0, out
        assert "the writer process exited" in out and "starting it again" in out
        # What crossed the writer's socket is nowhere in the data directory or the output.
        assert PLANTED not in out and "555123987" not in out
        for path in data.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert PLANTED.encode() not in content and b"555123987" not in content, path
    finally:
        served.kill_everything()


def _send(port: int, path: str, headers: dict[str, str], body: bytes, *, chunked: bool = False) -> tuple[int, bytes]:
    """Post like an ordinary client: the whole body first, then read the answer (a server that closes
    before the body is in makes this fail with a reset or broken pipe instead)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        if chunked:
            pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
            connection.request("POST", path, body=pieces, headers=headers, encode_chunked=True)
        else:
            connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.slow
def test_serve_answers_a_body_of_30_mb_with_413_that_the_client_receives(tmp_path: Path) -> None:
    """Through granian: the refused body is read and dropped first (hotline/inputs.py), so the client,
    still sending, gets the 413 and its reason, not a reset connection. A chunked body is read to its
    end too, and one within the limit reaches the webhook's parser."""
    port = _free_port()
    env = _env(tmp_path / "var") | {
        "TELEGRAM_BOT_TOKEN": "1:serve-test",
        "TELEGRAM_WEBHOOK_SECRET": "serve-test-secret",
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",
    }
    served = _serve(env, "--no-worker", "--port", str(port), "--workers", "1")
    webhook = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "serve-test-secret"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    big = b"x" * (30 * 1024 * 1024)
    too_large = "at most 2621440 bytes are accepted"
    try:
        for chunked in (False, True):
            status, body = _send(port, "/telegram/webhook", webhook, big, chunked=chunked)
            assert (status, json.loads(body)["error"]) == (413, f"The request is too large: {too_large}."), chunked
            status, body = _send(port, "/en/receipt/", form, big, chunked=chunked)
            assert status == 413 and too_large in body.decode(), chunked
        status, body = _send(port, "/accounts/login/", form, big)
        assert status == 413 and too_large in body.decode()
        # Read (Django alone sees no body without a Content-Length), parsed, and found not to be an update.
        status, body = _send(port, "/telegram/webhook", webhook, b'{"update_id": "seven"}', chunked=True)
        assert (status, json.loads(body)["error"]) == (400, "not a Telegram update: update_id missing")
        returncode, out = served.stop()
        assert returncode == 0, out
    finally:
        served.kill_everything()


def test_worker_stops_on_sigterm(tmp_path: Path) -> None:
    assert _hotline(tmp_path / "var", "migrate", "-v0").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "worker"],
        env=_env(tmp_path / "var"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until it is running
        if "worker started" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, out
    assert "worker stopped" in out


def test_python_dash_m_and_the_console_script_agree(tmp_path: Path) -> None:
    done = _hotline(tmp_path / "var", "help")
    assert done.returncode == 0
    for command in ("setup", "serve", "worker", "keys", "audit", "purge", "backup"):
        assert command in done.stdout
