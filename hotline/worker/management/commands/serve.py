"""``hotline serve``: the web server (granian, several workers) and the worker, together; on SQLite
also the writer process, which commits the web processes' Telegram updates and form submissions.

Ctrl-C or SIGTERM stops them all (the writer last, after the requests it serves). If the web server
or the worker dies, the others are stopped too and the exit status says so; a writer process that
dies is started again (granian restarts its own workers the same way), unless it keeps dying.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from argparse import ArgumentParser
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from hotline.keyring.actions import KeyringError, check_server_keys, is_set_up

STOP_TIMEOUT = 15.0
WRITER_START_TIMEOUT = 60.0
WRITER_RESTARTS = 5  # within WRITER_RESTART_WINDOW seconds, then serve gives up
WRITER_RESTART_WINDOW = 60.0


class Command(BaseCommand):
    help = "Serve the hotline: migrate, then run the web server and the worker until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=settings.HOTLINE_HOST)
        parser.add_argument("--port", type=int, default=settings.HOTLINE_PORT)
        parser.add_argument("--workers", type=int, default=settings.HOTLINE_WEB_WORKERS, help="web worker processes")
        parser.add_argument("--no-worker", action="store_true", help="run the web server only")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="also run a local Telegram emulator and connect the bot to it (try the bot in a browser)",
        )
        parser.add_argument("--demo-port", type=int, default=8081, help="the emulator's port in --demo mode")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.HOTLINE_DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        call_command("migrate", interactive=False, verbosity=0)
        if settings.HOTLINE_KB_DIR.is_dir():
            # The starter knowledge base; articles an admin edited since are kept (idempotent).
            call_command("kb", "load", verbosity=0, stdout=io.StringIO())
        try:
            check_server_keys()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        self._banner(options["host"], options["port"])
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        env = dict(os.environ)
        self.writer: subprocess.Popen[bytes] | None = None
        self.writer_dir: Path | None = None  # a private directory for the socket, if one was made
        self.writer_restarts: list[float] = []
        if connection.vendor == "sqlite":
            env["HOTLINE_WRITER_SOCKET"] = self._writer_socket()
            self.writer = self._start_writer(env)
        emulator = None
        if options["demo"]:
            emulator, demo_env = self._start_demo(options["demo_port"])
            env.update(demo_env)
        children = [self._web(options["host"], options["port"], options["workers"], env)]
        if not options["no_worker"]:
            children.append(subprocess.Popen([sys.executable, "-m", "hotline", "worker"], env=env))
        try:
            if emulator is not None:
                self._connect_demo(emulator, options["host"], options["port"], env)
            failed = self._supervise(children, env)
        finally:
            if emulator is not None:
                emulator.stop()
            self._stop_writer()
        if failed:
            raise CommandError("a child process exited unexpectedly; everything was stopped")

    def _start_demo(self, port: int) -> tuple[Any, dict[str, str]]:
        """A local Telegram emulator with a simulated phone page; the bot is pointed at it."""
        from hotline.testing.telegram_emulator import TelegramEmulator

        token = f"{secrets.randbelow(10**9)}:demo-{secrets.token_urlsafe(12)}"
        emulator = TelegramEmulator(token=token, host="127.0.0.1", port=port).start()
        env = {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE": emulator.base_url,
            "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "TELEGRAM_MODE": "webhook",
        }
        self.stdout.write(self.style.SUCCESS(f"  Demo: chat with the bot as an applicant at {emulator.base_url}/phone"))
        if not is_set_up():
            self.stdout.write(
                self.style.WARNING("  Demo: run `.venv/bin/hotline setup` first, or applications cannot be stored.")
            )
        return emulator, env

    def _connect_demo(self, emulator: Any, host: str, port: int, env: dict[str, str]) -> None:
        """Point the emulator's webhook at this server once it answers."""
        url = f"http://{host}:{port}/telegram/webhook"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.stopping:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        body = urllib.parse.urlencode({"url": url, "secret_token": env["TELEGRAM_WEBHOOK_SECRET"]}).encode()
        request = urllib.request.Request(  # noqa: S310 (the local emulator, http only)
            f"{emulator.base_url}/bot{env['TELEGRAM_BOT_TOKEN']}/setWebhook", data=body
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (the local emulator, http only)
            pass

    def _web(self, host: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--blocking-threads",
                str(settings.HOTLINE_WEB_THREADS),
                "--no-ws",
                "--no-access-log",
                "--log-level",
                "warning",
                "--respawn-failed-workers",
                "--workers-kill-timeout",
                "10",
                "hotline.wsgi:application",
            ],
            env=env,
        )

    def _writer_socket(self) -> str:
        """The writer's socket: in the data directory, or a private directory if that path is too long
        for a Unix socket (about 100 bytes)."""
        path = settings.HOTLINE_DATA_DIR / "writer.sock"
        if len(os.fsencode(path)) < 100:
            return str(path)
        self.writer_dir = Path(tempfile.mkdtemp(prefix="hotline-"))
        return str(self.writer_dir / "writer.sock")

    def _start_writer(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start the writer process and wait until it listens (the web processes would wait too)."""
        address = env["HOTLINE_WRITER_SOCKET"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        writer = subprocess.Popen([sys.executable, "-m", "hotline", "writer", "--socket", address], env=env)  # noqa: S603
        deadline = time.monotonic() + WRITER_START_TIMEOUT
        while (
            not os.path.exists(address) and writer.poll() is None and not self.stopping and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        return writer

    def _check_writer(self, env: dict[str, str]) -> bool:
        """Start the writer again if it died; False if it keeps dying."""
        if self.writer is None or self.writer.poll() is None:
            return True
        now = time.monotonic()
        self.writer_restarts = [t for t in self.writer_restarts if now - t < WRITER_RESTART_WINDOW] + [now]
        if len(self.writer_restarts) > WRITER_RESTARTS:
            self.stderr.write(f"the writer process keeps exiting (status {self.writer.returncode}); stopping")
            return False
        self.stderr.write(f"the writer process exited (status {self.writer.returncode}); starting it again")
        self.writer = self._start_writer(env)
        return True

    def _stop_writer(self) -> None:
        if self.writer is None:
            return
        if self.writer.poll() is None:
            self.writer.send_signal(signal.SIGTERM)
        try:
            self.writer.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.writer.kill()
            self.writer.wait()
        if self.writer_dir is not None:
            shutil.rmtree(self.writer_dir, ignore_errors=True)

    def _supervise(self, children: list[subprocess.Popen[bytes]], env: dict[str, str]) -> bool:
        """Wait until asked to stop or until a child exits; then stop all. True if a child failed."""
        failed = False
        while not self.stopping:
            if any(child.poll() is not None for child in children) or not self._check_writer(env):
                failed = True
                break
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return failed

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _banner(self, host: str, port: int) -> None:
        w = self.stdout.write
        w(self.style.SUCCESS(f"Hotline is serving on http://{host}:{port}/"))
        w(f"  data directory: {settings.HOTLINE_DATA_DIR}  (keys in {settings.HOTLINE_KEYS_DIR})")
        if not is_set_up():
            w("  Next: create the organisation keys and the first administrator in another terminal:")
            w("      .venv/bin/hotline setup")
        w("  Stop with Ctrl-C.")
