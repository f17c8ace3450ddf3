"""Crash safety: `kill -9` the web server and the worker (and the writer process, where there is
one) in the middle of a stream of updates and replies. Afterwards no update that was acknowledged
with a 2xx is missing, and no case is duplicated.

The web server (granian), the worker and the writer run as real processes against the test
database; the Telegram emulator plays Telegram, retrying webhook deliveries until they succeed, as
Telegram does.

Nothing waits on the clock: the stream of updates pauses at each crash point until the processes
are killed, goes on while they are down (so deliveries fail, as they would), and every wait is for
a condition, bounded only against a hung run (tests/process_support.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from hotline.cases.models import Case
from hotline.channels.telegram.models import ProcessedUpdate
from hotline.outbox.models import OutboxMessage
from hotline.testing.telegram_emulator import RateLimits, TelegramEmulator
from tests.conftest import Org
from tests.process_support import WAIT, wait_until
from tests.telegram_harness import SECRET, TOKEN, set_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

USERS = 8
MESSAGES_PER_USER = 6
ROUNDS = MESSAGES_PER_USER + 2  # /start, the consent, then the messages
CRASH_AFTER_ROUNDS = (2, 5)  # the stream stops there until the processes are killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    def __init__(self, emulator: TelegramEmulator, port: int, writer_socket: Path | None = None) -> None:
        db = connection.settings_dict
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
        if connection.vendor == "sqlite":
            self.env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
        else:
            self.env["DATABASE_URL"] = (
                f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            )
        self.env.update(
            {
                "HOTLINE_DATA_DIR": str(settings.HOTLINE_DATA_DIR),
                "HOTLINE_KEYS_DIR": str(settings.HOTLINE_KEYS_DIR),
                "HOTLINE_FLOWS_DIR": str(settings.HOTLINE_FLOWS_DIR),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_BASE": emulator.base_url,
                "TELEGRAM_CHAT_RATE": "1000",
                "HOTLINE_WORKER_POLL_SECONDS": "0.1",
            }
        )
        if writer_socket is not None:
            self.env["HOTLINE_WRITER_SOCKET"] = str(writer_socket)
        self.writer_socket = writer_socket
        self.port = port
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.writer: subprocess.Popen[bytes] | None = None

    def start_writer(self) -> None:
        assert self.writer_socket is not None
        self.writer = subprocess.Popen(
            [sys.executable, "-m", "hotline", "writer", "--socket", str(self.writer_socket)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--blocking-threads",
                "4",
                "--no-ws",
                "--log-level",
                "error",
                "hotline.wsgi:application",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self._listening, "granian listening", unless_exited=self.web)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT):
                return True
        except OSError:
            return False

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "hotline", "worker"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @staticmethod
    def kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        self.kill(self.web)
        self.kill(self.worker)
        self.kill(self.writer)


@pytest.mark.parametrize("writer", [False, True], ids=["writer-thread", "writer-process"])
def test_kill_9_of_web_and_worker_loses_no_acknowledged_update_and_duplicates_no_case(
    org_tx: Org, tmp_path: Path, writer: bool
) -> None:
    emulator = TelegramEmulator(
        token=TOKEN, rate_limits=RateLimits(per_chat_rate=0, global_rate=0), webhook_retry_max=0.3
    ).start()
    port = _free_port()
    procs = Processes(emulator, port, writer_socket=tmp_path / "writer.sock" if writer else None)
    try:
        if writer:
            procs.start_writer()
        procs.start_web()
        procs.start_worker()
        set_webhook(emulator, f"http://127.0.0.1:{port}/telegram/webhook")
        users = [7_000_000 + i for i in range(USERS)]
        for user in users:
            emulator.add_user(user, language_code="en")

        reached = {round_: threading.Event() for round_ in CRASH_AFTER_ROUNDS}
        resume = {round_: threading.Event() for round_ in CRASH_AFTER_ROUNDS}

        def stream() -> None:
            for round_ in range(ROUNDS):
                for user in users:
                    if round_ == 0:
                        emulator.send_command(user, "start")
                    elif round_ == 1:
                        emulator.send_text(user, "yes")  # consent: the case opens
                    else:
                        emulator.send_text(user, f"message {round_}")
                if round_ in reached:
                    reached[round_].set()
                    resume[round_].wait(WAIT)

        def acknowledged() -> set[int]:
            return {a.update_id for a in emulator.webhook_attempts if a.ok}

        def a_delivery_failed_since(seen: int) -> bool:
            return any(not a.ok for a in emulator.webhook_attempts[seen:])

        sender = threading.Thread(target=stream)
        sender.start()
        total = USERS * ROUNDS
        # Crash twice while updates and replies are flowing: the stream stops at the crash point
        # (what it sent so far is being delivered and answered), the processes are killed, the stream
        # goes on while they are down, and they are started again once a delivery has failed.
        # With a writer process: first the writer alone (the web server finds the new one), then all.
        try:
            for round_ in CRASH_AFTER_ROUNDS:
                assert reached[round_].wait(WAIT), "the stream never got to the crash point"
                seen = len(emulator.webhook_attempts)
                writer_alone = writer and round_ == CRASH_AFTER_ROUNDS[0]
                if not writer_alone:
                    procs.kill(procs.web)
                    procs.kill(procs.worker)
                procs.kill(procs.writer)
                resume[round_].set()
                wait_until(lambda seen=seen: a_delivery_failed_since(seen), "a delivery failed during the crash")
                if writer:
                    procs.start_writer()
                if not writer_alone:
                    procs.start_web()
                    procs.start_worker()
        finally:
            for event in resume.values():
                event.set()
            sender.join(WAIT)

        def settled() -> bool:
            return len(acknowledged()) == total and not OutboxMessage.objects.exists()

        try:
            wait_until(settled, "every update acknowledged and every reply delivered")
        except AssertionError as exc:  # say where it stands
            state = (
                f"acknowledged {len(acknowledged())} of {total}, stored {ProcessedUpdate.objects.count()}, "
                f"outbox rows {OutboxMessage.objects.count()}, webhook attempts {len(emulator.webhook_attempts)}, "
                f"webhook info {emulator.dispatch(TOKEN, 'getWebhookInfo', {})}"
            )
            raise AssertionError(f"{exc}: {state}") from None
        stored = set(ProcessedUpdate.objects.values_list("update_id", flat=True))
        assert acknowledged() <= stored, f"acknowledged but missing: {sorted(acknowledged() - stored)[:5]}"
        # One case per applicant: no update was applied twice.
        per_applicant = list(Case.objects.values_list("applicant_id", flat=True))
        assert len(per_applicant) == USERS and len(set(per_applicant)) == USERS
        assert not OutboxMessage.objects.exists(), "every reply was delivered"
        for user in users:
            assert sum(1 for m in emulator.chat(user) if m.from_bot) >= MESSAGES_PER_USER
    finally:
        procs.stop()
        emulator.stop()
