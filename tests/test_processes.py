"""The `hotline` command as a person runs it: fresh data directory, setup, serve, stop."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "DJANGO_"))}
    env["HOTLINE_DATA_DIR"] = str(data_dir)
    return env


def _hotline(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
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


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``hotline serve`` in a session of its own, once it answers /healthz (its output is piped)."""
    port = args[args.index("--port") + 1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _get(f"http://127.0.0.1:{port}/healthz")
            return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("hotline serve did not start")


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
    proc = _serve(_env(tmp_path / "var"), "--port", str(port), "--workers", "2")
    try:
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and page
        assert (tmp_path / "var" / "writer.sock").is_socket(), "on SQLite the writer process serves"
        # The worker ran its first jobs (they are due at once).
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and _hotline(
                tmp_path / "var",
                "shell",
                "-c",
                "from hotline.worker.models import ScheduledJob as J; "
                "print(J.objects.filter(last_finished_at__isnull=False).count())",
            ).stdout.strip()
            != "2"
        ):
            time.sleep(0.5)

        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "Hotline is serving on" in out and "hotline setup" in out
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/healthz")
        assert not (tmp_path / "var" / "writer.sock").exists()
        # Nothing of the process group is left running.
        time.sleep(0.5)
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


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
    proc = _serve(env, "--no-worker", "--port", str(port), "--workers", "1")
    try:
        assert _post_update(port, 1, 555_123_987, "/start") == 200
        writers = subprocess.run(["pgrep", "-f", "hotline writer"], capture_output=True, text=True).stdout.split()
        mine = [int(p) for p in writers if os.getpgid(int(p)) == proc.pid]
        assert len(mine) == 1, writers
        os.kill(mine[0], signal.SIGKILL)
        # Telegram retries until it gets a 2xx; a redelivered update is not stored twice.
        statuses = []
        for update_id in (2, 2, 3):
            deadline = time.monotonic() + 60
            text = f"yes {PLANTED}" if update_id == 3 else "yes"
            while (status := _post_update(port, update_id, 555_123_987, text)) != 200 and time.monotonic() < deadline:
                statuses.append(status)
                time.sleep(0.2)
            assert status == 200
        assert set(statuses) <= {503}, statuses
        stored = _hotline(
            data,
            "shell",
            "-c",
            "from hotline.channels.telegram.models import ProcessedUpdate as P; "
            "print(sorted(P.objects.values_list('update_id', flat=True)))",
        ).stdout.strip()
        assert stored.splitlines()[-1] == "[1, 2, 3]"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "the writer process exited" in out and "starting it again" in out
        # What crossed the writer's socket is nowhere in the data directory or the output.
        assert PLANTED not in out and "555123987" not in out
        for path in data.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert PLANTED.encode() not in content and b"555123987" not in content, path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


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
    proc = _serve(env, "--no-worker", "--port", str(port), "--workers", "1")
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


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
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "worker stopped" in out


def test_python_dash_m_and_the_console_script_agree(tmp_path: Path) -> None:
    done = _hotline(tmp_path / "var", "help")
    assert done.returncode == 0
    for command in ("setup", "serve", "worker", "keys", "audit", "purge", "backup"):
        assert command in done.stdout
