"""``hotline serve``: the web server (granian, one process per web worker) and the worker, together;
on SQLite also the writer process, which commits the web processes' Telegram updates and form
submissions.

Every child is supervised (``hotline/worker/supervise.py``): one that exits unasked is started again
after a pause that grows while it keeps exiting, and ``serve`` stops only when asked (Ctrl-C or
SIGTERM; the writer last, after the requests it serves). ``/healthz`` names what is down meanwhile.
Each web worker is a granian server of its own (they share the port), so one that is killed is
restarted alone while the others keep serving.

The children are forked from serve once it has loaded what they load at start, so they share those
pages (``hotline/worker/children.py``; docs/architecture.md, "Forked children").
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import secrets
import shlex
import shutil
import signal
import tempfile
import threading
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
from hotline.worker.children import adopt_environment, close_connections, preload, run_web, run_worker, run_writer
from hotline.worker.supervise import Backoff, Child, Supervisor, marked_ready

STATUS_FILE = "serve-status.json"  # in the data directory; what /healthz reports (HOTLINE_SERVE_STATUS)


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
        self.stopping = False
        host, port = options["host"], options["port"]
        # The environment every child works in; serve adopts it first (settings included), since its
        # children are forked from it (hotline/worker/children.py).
        env = dict(os.environ)
        status_path = settings.HOTLINE_DATA_DIR / STATUS_FILE
        env["HOTLINE_SERVE_STATUS"] = str(status_path)
        self.writer_dir: Path | None = None  # a private directory for the socket, if one was made
        if connection.vendor == "sqlite":
            env["HOTLINE_WRITER_SOCKET"] = self._writer_socket()
        emulator = voice = None
        try:
            if options["demo"]:
                emulator, voice, demo_env = self._start_demo(options["demo_port"], host, port)
                env.update(demo_env)
            adopt_environment(env)
            self._run(options, host, port, env, status_path, emulator)
        finally:
            if emulator is not None:
                emulator.stop()
            if voice is not None:
                voice.stop()
            self._remove_writer_dir()
        self._say("stopped")

    def _run(
        self, options: dict[str, Any], host: str, port: int, env: dict[str, str], status_path: Path, emulator: Any
    ) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if settings.HOTLINE_KB_DIR.is_dir():
            # The starter knowledge base; articles an admin edited since are kept (idempotent).
            call_command("kb", "load", verbosity=0, stdout=io.StringIO())
        try:
            check_server_keys()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        if emulator is not None and not is_set_up():
            self.stdout.write(
                self.style.WARNING("  Demo: run `.venv/bin/hotline setup` first, or applications cannot be stored.")
            )
        preload()  # what the children load at start, loaded once here and shared with them
        children: list[Child] = []
        if settings.HOTLINE_WRITER_SOCKET:
            children.append(self._writer(env))
        children += [self._web(n, host, port, env, status_path) for n in range(1, options["workers"] + 1)]
        if not options["no_worker"]:
            worker = Child("worker", "worker", [], env, self._backoff(), run=run_worker, before_start=close_connections)
            worker.ready = lambda: marked_ready(status_path, worker)  # it marks itself once it works
            children.append(worker)
        supervisor = Supervisor(children, status_path, self._say)
        answering = threading.Event()
        threading.Thread(target=self._wait_until_answering, args=(host, port, answering), daemon=True).start()
        announced = False

        def announce_once_serving() -> None:
            nonlocal announced
            if announced or not answering.is_set() or supervisor.down():
                return
            announced = True
            if emulator is not None:
                self._connect_demo(emulator, host, port, env)
            self._banner(host, port)

        supervisor.start_all()
        supervisor.run(lambda: self.stopping, on_tick=announce_once_serving)

    def _remove_writer_dir(self) -> None:
        if self.writer_dir is not None:
            shutil.rmtree(self.writer_dir, ignore_errors=True)

    def _backoff(self) -> Backoff:
        return Backoff(settings.HOTLINE_RESTART_DELAY_SECONDS, settings.HOTLINE_RESTART_DELAY_MAX_SECONDS)

    def _say(self, message: str) -> None:
        self.stderr.write(f"serve: {message}")
        self.stderr.flush()

    def _start_demo(self, port: int, host: str, serve_port: int) -> tuple[Any, Any, dict[str, str]]:
        """A local Telegram emulator with a simulated phone page; the bot is pointed at it. And a
        voice provider emulator in front of this server's phone line, which the page's keypad calls
        (``hotline/testing/voice_demo.py`` lists its phone book: which demo operator lines answer)."""
        from hotline.testing.telegram_emulator import TelegramEmulator
        from hotline.testing.voice_demo import VoiceDemo

        token = f"{secrets.randbelow(10**9)}:demo-{secrets.token_urlsafe(12)}"
        emulator = TelegramEmulator(token=token, host="127.0.0.1", port=port).start()
        voice = VoiceDemo(f"http://{_local_address(host, url=True)}:{serve_port}").start()
        emulator.phone_line = voice
        emulator.add_channel("@hotline_demo", title="Hotline news (demo)")
        env = {
            "TELEGRAM_CHANNELS": "*=@hotline_demo",
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE": emulator.base_url,
            "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "TELEGRAM_MODE": "webhook",
            **voice.env(),
        }
        self.stdout.write(self.style.SUCCESS(f"  Demo: chat with the bot as an applicant at {emulator.base_url}/phone"))
        self.stdout.write(
            self.style.SUCCESS(
                "  Demo: call the phone line from the same page (Call); operator lines +15550101 and +15550102 "
                "answer (give one on the console's On duty page)"
            )
        )
        self.stdout.write(
            self.style.SUCCESS(
                "  Demo: posts published from the console go to the channel @hotline_demo: "
                f"{emulator.base_url}/_emulator/channel_messages?channel=@hotline_demo"
            )
        )
        return emulator, voice, env

    def _connect_demo(self, emulator: Any, host: str, port: int, env: dict[str, str]) -> None:
        """Point the emulator's webhook at this server (which answers by now)."""
        url = f"http://{host}:{port}/telegram/webhook"
        body = urllib.parse.urlencode({"url": url, "secret_token": env["TELEGRAM_WEBHOOK_SECRET"]}).encode()
        request = urllib.request.Request(  # noqa: S310 (the local emulator, http only)
            f"{emulator.base_url}/bot{env['TELEGRAM_BOT_TOKEN']}/setWebhook", data=body
        )
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (the local emulator, http only)
            pass

    def _wait_until_answering(self, host: str, port: int, answering: threading.Event) -> None:
        """Set ``answering`` once the web server answers ``/ping`` (a thread: supervision goes on)."""
        address = _local_address(host)
        while not self.stopping:
            conn = http.client.HTTPConnection(address, port, timeout=10)
            try:
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    answering.set()
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.2)

    def _web(self, number: int, host: str, port: int, env: dict[str, str], status_path: Path) -> Child:
        """One granian server with one worker process (``children.run_web``)."""
        threads = settings.HOTLINE_WEB_THREADS
        child = Child(
            f"web-{number}",
            f"web process {number}",
            [],
            env,
            self._backoff(),
            run=lambda: run_web(host, port, threads),
            before_start=close_connections,
        )
        child.ready = lambda: marked_ready(status_path, child)
        return child

    def _writer_socket(self) -> str:
        """The writer's socket: in the data directory, or a private directory if that path is too long
        for a Unix socket (about 100 bytes)."""
        path = settings.HOTLINE_DATA_DIR / "writer.sock"
        if len(os.fsencode(path)) < 100:
            return str(path)
        self.writer_dir = Path(tempfile.mkdtemp(prefix="hotline-"))
        return str(self.writer_dir / "writer.sock")

    def _writer(self, env: dict[str, str]) -> Child:
        """The writer process; it is ready once it listens (the web processes wait for it meanwhile)."""
        address = env["HOTLINE_WRITER_SOCKET"]

        def remove_old_socket() -> None:
            close_connections()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)

        return Child(
            "writer",
            "writer process",
            [],
            env,
            self._backoff(),
            run=lambda: run_writer(address),
            ready=lambda: os.path.exists(address),
            before_start=remove_old_socket,
            stop_last=True,
        )

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _banner(self, host: str, port: int) -> None:
        w = self.stdout.write
        w(self.style.SUCCESS(f"Hotline is serving on http://{host}:{port}/"))
        w(f"  data directory: {settings.HOTLINE_DATA_DIR}  (keys in {settings.HOTLINE_KEYS_DIR})")
        if not is_set_up():
            w("  Next: create the organisation keys and the first administrator in another terminal:")
            w(f"      {_setup_command()}")
            if "DATABASE_URL" in os.environ or "DATABASE_URL_FILE" in os.environ:
                w("    (with this server's DATABASE_URL too: setup must write to the database it serves)")
        w("  Stop with Ctrl-C.")
        self.stdout.flush()


def _setup_command() -> str:
    """``hotline setup`` as it must be run for this server: with its data directory, when one was
    given (setup run without it would set up another, empty data directory)."""
    if "HOTLINE_DATA_DIR" not in os.environ:
        return ".venv/bin/hotline setup"
    return f"HOTLINE_DATA_DIR={shlex.quote(str(settings.HOTLINE_DATA_DIR))} .venv/bin/hotline setup"


def _local_address(host: str, *, url: bool = False) -> str:
    """Where a process on this machine reaches a server listening on ``host`` (``url``: as written in
    a URL, an IPv6 address in brackets)."""
    address = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host.strip("[]"))  # noqa: S104
    return f"[{address}]" if url and ":" in address else address
