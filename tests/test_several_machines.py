"""Several machines against one PostgreSQL database: two web processes and two workers, each pair with
a data directory of its own and its own copy of the key files, as on two machines (docs/operations.md).

Telegram (the emulator) delivers every update to one web process while the same update is also
posted to the other (as a redelivery through a load balancer would), so the two race on every
update; both workers deliver the replies and notes the test queues. Afterwards every update is
stored once, every outbox item was delivered exactly once (none lost, none twice), and the audit
chain, written by four processes at once, verifies on each machine against its own anchors.

Nothing waits on the clock: every wait is for a condition, bounded only against a hung run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction

from hotline.audit import log as audit
from hotline.cases.actions import find_identity
from hotline.cases.models import Case
from hotline.channels.telegram.models import ProcessedUpdate
from hotline.core.metadata import ChannelKind
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import OutboxMessage
from hotline.testing.telegram_emulator import RateLimits, TelegramEmulator
from tests.conftest import Org
from tests.process_support import WAIT, wait_until
from tests.telegram_harness import SECRET, TOKEN, set_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

USERS = 10
MESSAGES_PER_USER = 3
NOTES_PER_USER = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Machine:
    """One machine's web process (granian) and worker, with its own data directory and key files."""

    def __init__(self, name: str, root: Path, emulator: TelegramEmulator) -> None:
        db = connection.settings_dict
        self.data_dir = root / name
        keys = self.data_dir / "keys"
        keys.mkdir(parents=True, mode=0o700)
        self.data_dir.chmod(0o700)
        for key_file in Path(settings.HOTLINE_KEYS_DIR).iterdir():
            if key_file.is_file() and key_file.name != "audit-anchors":
                shutil.copy2(key_file, keys / key_file.name)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
        self.env.update(
            {
                "DATABASE_URL": (
                    f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
                ),
                "HOTLINE_DATA_DIR": str(self.data_dir),
                "HOTLINE_FLOWS_DIR": str(settings.HOTLINE_FLOWS_DIR),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_API_BASE": emulator.base_url,
                "TELEGRAM_CHAT_RATE": "1000",
                "HOTLINE_WORKER_POLL_SECONDS": "0.1",
            }
        )
        self.port = _free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    def _start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / log, "wb"),  # noqa: SIM115 (the child keeps it)
            start_new_session=True,
        )
        self.processes.append(proc)
        return proc

    def start(self) -> None:
        web = self._start(
            "granian",
            "--interface",
            "wsgi",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--blocking-threads",
            "8",
            "--no-ws",
            "--log-level",
            "error",
            "hotline.wsgi:application",
            log="web.log",
        )
        self._start("hotline", "worker", log="worker.log")
        wait_until(self._listening, f"the web process of {self.data_dir.name} listening", unless_exited=web)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT):
                return True
        except OSError:
            return False

    def hotline(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hotline", *args], env=self.env, capture_output=True, text=True, timeout=WAIT
        )

    def post(self, update: dict[str, Any]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/telegram/webhook",
            data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310 (loopback only)
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            proc.wait(WAIT)


def _queue_notes(users: list[int]) -> set[str]:
    """Outbox items of our own, each with a text of its own, queued as an action would queue them."""
    texts = set()
    with transaction.atomic():
        for user in users:
            identity = find_identity(ChannelKind.TELEGRAM, str(user))
            assert identity is not None
            for i in range(NOTES_PER_USER):
                text = f"note {user} {i}"
                enqueue("telegram", "send", {"chat_id": user, "text": text}, identity=identity)
                texts.add(text)
    return texts


def test_two_web_processes_and_two_workers_on_two_machines_store_once_deliver_once_and_keep_the_audit_chain(
    org_tx: Org, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("several machines share a PostgreSQL database; SQLite is one machine's")
    emulator = TelegramEmulator(
        token=TOKEN, rate_limits=RateLimits(per_chat_rate=0, global_rate=0), webhook_retry_max=0.3
    ).start()
    machines = [Machine("a", tmp_path, emulator), Machine("b", tmp_path, emulator)]
    try:
        for machine in machines:
            machine.start()
        a, b = machines
        set_webhook(emulator, f"http://127.0.0.1:{a.port}/telegram/webhook")
        users = [8_100_000 + i for i in range(USERS)]
        for user in users:
            emulator.add_user(user, language_code="en")

        # Each round: every user sends one update; Telegram delivers it to machine a, and the same
        # update is posted to machine b at once. One of the two stores it, the other finds it stored.
        updates: list[dict[str, Any]] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            for round_ in range(2 + MESSAGES_PER_USER):
                sent = []
                for user in users:
                    if round_ == 0:
                        sent.append(emulator.send_command(user, "start"))
                    elif round_ == 1:
                        sent.append(emulator.send_text(user, "yes"))  # consent: the case opens
                    else:
                        sent.append(emulator.send_text(user, f"message {round_}"))
                updates.extend(sent)
                assert set(pool.map(b.post, sent)) == {200}
                if round_ == 1:
                    # The identities exist now: queue the notes while the conversations go on.
                    wait_until(
                        lambda: all(find_identity(ChannelKind.TELEGRAM, str(u)) for u in users),
                        "every applicant known",
                    )
                    notes = _queue_notes(users)

        ids = {u["update_id"] for u in updates}

        def all_acknowledged_and_delivered() -> bool:
            acknowledged = {attempt.update_id for attempt in emulator.webhook_attempts if attempt.ok}
            return acknowledged >= ids and not OutboxMessage.objects.exists()

        wait_until(all_acknowledged_and_delivered, "every update acknowledged and every outbox item delivered")

        # Every update stored once; one case per applicant.
        assert set(ProcessedUpdate.objects.values_list("update_id", flat=True)) == ids
        applicants = list(Case.objects.values_list("applicant_id", flat=True))
        assert len(applicants) == USERS == len(set(applicants))
        # Every note delivered exactly once.
        bot_texts = {user: [m.text for m in emulator.chat(user) if m.from_bot] for user in users}
        delivered = [text for texts in bot_texts.values() for text in texts if text and text.startswith("note ")]
        assert sorted(delivered) == sorted(notes)
        # The replies: every applicant said the same things, so each got the same replies, in the same
        # order; a reply lost or sent twice would make one conversation differ from the others.
        replies = {user: [t for t in texts if not (t or "").startswith("note ")] for user, texts in bot_texts.items()}
        first = replies[users[0]]
        assert len(first) >= 2 + MESSAGES_PER_USER
        assert all(r == first for r in replies.values()), "a reply was lost or delivered twice"

        # The audit chain, appended to by four processes at once, verifies on each machine against
        # an anchor of its own (the anchor file is per machine).
        for machine in machines:
            anchored = machine.hotline("audit", "anchor")
            assert anchored.returncode == 0, anchored.stderr
        for machine in machines:
            verified = machine.hotline("audit", "verify", "--json")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            report = json.loads(verified.stdout.strip().splitlines()[-1])
            assert report["ok"] and report["anchors"] >= 1 and not report["breaks"]
        assert audit.verify().ok
    finally:
        for machine in machines:
            machine.stop()
        emulator.stop()
