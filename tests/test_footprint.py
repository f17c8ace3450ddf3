"""What each process loads at start-up, and ``hotline serve`` starting and stopping as a person sees it.

aiogram alone cost ~150 MB and ~3 s of CPU in every process that imported it (matplotlib, scipy and
numpy tens of MB more): a process imports such a library only when it does what needs it (the
webhook's first update, the worker's Telegram delivery, a chart, a release's audit). Each process
here reports, as it exits, which of them it had imported (:data:`HOOK`); nothing waits on the clock.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process_support import WAIT, Served, alive_in_session, is_dead, wait_until

HEAVY = ("aiogram", "aiohttp", "matplotlib", "scipy", "numpy", "PIL", "twilio.rest")

# Runs the `hotline` command (its arguments follow -c) and says, as the process exits, which heavy
# libraries it imported: on stderr, one line.
HOOK = f"""
import atexit, sys
def _report():
    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
    sys.stderr.write("HEAVY-MODULES:" + ",".join(heavy) + ":END\\n")
    sys.stderr.flush()
atexit.register(_report)
sys.argv = ["hotline", *sys.argv[1:]]
from hotline.cli import main
main()
"""

TELEGRAM = {
    "TELEGRAM_BOT_TOKEN": "1:footprint-test",
    "TELEGRAM_WEBHOOK_SECRET": "footprint-test-secret",
    "TELEGRAM_MODE": "webhook",
    "TELEGRAM_API_BASE": "http://127.0.0.1:9",  # nothing is delivered
}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    ours = ("HOTLINE_", "DATABASE_URL", "DJANGO_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["HOTLINE_DATA_DIR"] = str(data_dir)
    return env | extra


def _heavy(output: str) -> list[str]:
    """The heavy modules a process reported (its last report: serve's, after its children's)."""
    reports = [line for line in output.splitlines() if line.startswith("HEAVY-MODULES:")]
    assert reports, f"the process made no report:\n{output}"
    names = reports[-1].removeprefix("HEAVY-MODULES:").removesuffix(":END")
    return [name for name in names.split(",") if name]


def _run(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HOOK, *args], env=_env(data_dir, **extra), capture_output=True, text=True, timeout=WAIT
    )


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    done = _run(data, "migrate", "-v0")
    assert done.returncode == 0, done.stderr
    return data


@pytest.mark.parametrize(
    "command",
    [["help"], ["check"], ["audit", "verify"], ["purge", "--dry-run"], ["flows", "check", "flows/intake.yaml"]],
    ids=" ".join,
)
def test_commands_that_do_not_talk_to_telegram_import_no_heavy_library(migrated: Path, command: list[str]) -> None:
    done = _run(migrated, *command, **TELEGRAM)  # the bot configured: still nothing of it is loaded
    assert done.returncode == 0, done.stderr
    assert _heavy(done.stderr) == []


def test_the_web_process_starts_without_aiogram_and_imports_it_with_the_first_update(migrated: Path) -> None:
    """What a granian worker runs (hotline/wsgi.py), configured as serve configures it; then one
    webhook update, which needs aiogram (its types are built as they are first used)."""
    program = """
import json, sys
import hotline.wsgi
before = sorted(m for m in HEAVY if m in sys.modules)
from django.test import Client
from aiogram.types import Message
lazy = not Message.__pydantic_complete__
update = {"update_id": 1, "message": {"message_id": 1, "date": 1700000000, "text": "/start",
          "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": False, "first_name": "A"}}}
response = Client(HTTP_HOST="127.0.0.1").post("/telegram/webhook", json.dumps(update), content_type="application/json",
                         headers={"X-Telegram-Bot-Api-Secret-Token": "footprint-test-secret"})
print(json.dumps({"before": before, "lazy": lazy, "status": response.status_code, "body": response.json()}))
"""
    env = _env(migrated, **TELEGRAM, DJANGO_SETTINGS_MODULE="hotline.settings")
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{program}"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["lazy"], "aiogram's types are built on first use, not at import"
    assert (result["status"], result["body"]) == (200, {"ok": True, "result": "stored"})


def test_the_writer_and_a_worker_without_the_bot_start_without_heavy_libraries(migrated: Path) -> None:
    socket_path = migrated / "w.sock"
    writer = subprocess.Popen(
        [sys.executable, "-c", HOOK, "writer", "--socket", str(socket_path)],
        env=_env(migrated, **TELEGRAM),  # the bot on: the writer stores its updates, still without aiogram
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", HOOK, "worker"], env=_env(migrated), stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(socket_path.exists, "the writer listening", unless_exited=writer)
        assert worker.stderr is not None
        for line in worker.stderr:  # until it works
            if "worker started" in line:
                break
        for process in (writer, worker):
            process.send_signal(signal.SIGTERM)
        _, writer_err = writer.communicate(timeout=WAIT)
        _, worker_err = worker.communicate(timeout=WAIT)
    finally:
        for process in (writer, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert writer.returncode == 0 and worker.returncode == 0, (writer_err, worker_err)
    assert _heavy(writer_err) == []
    assert _heavy(worker_err) == []


@pytest.mark.parametrize("bot", [False, True], ids=["without the bot", "with the bot"])
def test_serve_loads_for_its_children_only_what_they_load_at_start(migrated: Path, bot: bool) -> None:
    """What serve loads before it forks its children (``hotline/worker/children.py``): the application
    and, with the bot on, aiogram with the types the children validate first, built; never matplotlib,
    scipy, numpy, Pillow or twilio. Without the bot, no heavy library at all."""
    program = """
import json, sys
import django
django.setup()
from hotline.worker.children import preload
preload()
from django.db import connections
heavy = sorted(m for m in HEAVY if m in sys.modules)
built = None
if "aiogram" in sys.modules:
    from aiogram.types import Update, Message
    from aiogram.methods import SendMessage
    built = all(t.__pydantic_complete__ for t in (Update, Message, SendMessage))
open_connections = [c.alias for c in connections.all() if c.connection is not None]
print(json.dumps({"heavy": heavy, "built": built, "open": open_connections, "wsgi": "hotline.wsgi" in sys.modules}))
"""
    env = _env(migrated, **(TELEGRAM if bot else {}), DJANGO_SETTINGS_MODULE="hotline.settings")
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{program}"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["open"] == [], "no database connection is left for a child to inherit"
    assert result["wsgi"] is False, "hotline.wsgi (which marks a web process ready) is for granian's worker"
    if bot:
        assert (result["heavy"], result["built"]) == (["aiogram", "aiohttp"], True)
    else:
        assert (result["heavy"], result["built"]) == ([], None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_once_it_says_so_and_ctrl_c_stops_every_process_cleanly(tmp_path: Path) -> None:
    """The banner is printed only when the port answers and every child works; Ctrl-C (SIGINT to
    serve's process group, as a terminal sends it) stops each child with its own clean exit: none
    has to be killed, by serve or by granian. With the bot on, serve loaded aiogram for the children
    it forks (they share it), and nothing else that is heavy."""
    port = _free_port()
    served = Served(_env(tmp_path / "var", **TELEGRAM), "--port", str(port), python=["-c", HOOK])
    try:
        served.wait_for_output("Hotline is serving on")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request("GET", "/ping")
        assert connection.getresponse().status == 200
        connection.close()
        assert served.status()["down"] == []
        children = [pid for pid in alive_in_session(served.proc.pid) if pid != served.proc.pid]
        assert len(children) >= 6, children  # two web processes and their granian workers, the writer, the worker

        os.killpg(served.proc.pid, signal.SIGINT)
        served.proc.wait(timeout=WAIT)
        for pid in children:
            wait_until(lambda pid=pid: is_dead(pid), f"process {pid} gone")
        served._reader.join(timeout=WAIT)
        out = served.output
        assert served.proc.returncode == 0, out
        assert "serve: stopped" in out
        # Neither serve's "did not stop … killing it" / "stopped with killed by …" nor granian's "Killing worker".
        assert "kill" not in out.lower(), out
        assert "stopped with" not in out, out  # every child exited with status 0
        assert _heavy(out) == ["aiogram", "aiohttp"], "the supervisor imported aiogram for its children, nothing else"
        assert not (tmp_path / "var" / "serve-status.json").exists()
    finally:
        served.kill_everything()
