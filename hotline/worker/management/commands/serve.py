"""``hotline serve``: the web server (granian, several workers) and the worker, together.

Ctrl-C or SIGTERM stops both; if either dies, the other is stopped too and the exit status says so.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from hotline.keyring.actions import KeyringError, check_server_keys, is_set_up

STOP_TIMEOUT = 15.0


class Command(BaseCommand):
    help = "Serve the hotline: migrate, then run the web server and the worker until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=settings.HOTLINE_HOST)
        parser.add_argument("--port", type=int, default=settings.HOTLINE_PORT)
        parser.add_argument("--workers", type=int, default=settings.HOTLINE_WEB_WORKERS, help="web worker processes")
        parser.add_argument("--no-worker", action="store_true", help="run the web server only")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.HOTLINE_DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        call_command("migrate", interactive=False, verbosity=0)
        try:
            check_server_keys()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        self._banner(options["host"], options["port"])
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        children = [self._web(options["host"], options["port"], options["workers"])]
        if not options["no_worker"]:
            children.append(subprocess.Popen([sys.executable, "-m", "hotline", "worker"]))
        failed = self._supervise(children)
        if failed:
            raise CommandError("a child process exited unexpectedly; everything was stopped")

    def _web(self, host: str, port: int, workers: int) -> subprocess.Popen[bytes]:
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
                "--no-ws",
                "--no-access-log",
                "--log-level",
                "warning",
                "--respawn-failed-workers",
                "--workers-kill-timeout",
                "10",
                "hotline.wsgi:application",
            ]
        )

    def _supervise(self, children: list[subprocess.Popen[bytes]]) -> bool:
        """Wait until asked to stop or until a child exits; then stop all. True if a child failed."""
        failed = False
        while not self.stopping:
            if any(child.poll() is not None for child in children):
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
