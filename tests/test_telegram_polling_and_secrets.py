"""Long polling (no public URL), and confidentiality through the bot: planted strings sent by an
applicant appear nowhere in the database file, the backup or the logs."""

from __future__ import annotations

import logging
import time
import urllib.request
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from hotline.cases.backup import backup
from hotline.channels.telegram import polling
from hotline.channels.telegram.adapter import TelegramAdapter
from hotline.channels.telegram.models import PollingState, ProcessedUpdate
from hotline.testing.telegram_emulator import RateLimits, TelegramEmulator
from hotline.worker.loop import Worker
from tests.conftest import Org, sqlite_file_bytes
from tests.process_support import WAIT
from tests.telegram_harness import TOKEN, TelegramRig

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def polling_rig(org_tx: Org, settings: Any) -> Any:
    emulator = TelegramEmulator(token=TOKEN, rate_limits=RateLimits(per_chat_rate=0, global_rate=0)).start()
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE = emulator.base_url
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    settings.TELEGRAM_MODE = "polling"
    settings.TELEGRAM_CHAT_RATE = 1000
    worker = Worker()
    assert worker.polling
    try:
        yield emulator, worker
    finally:
        worker.close()
        emulator.stop()


def _run_until(worker: Worker, condition: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        worker.run_once(poll_timeout=0)


def test_polling_stores_updates_and_replies(polling_rig: Any) -> None:
    emulator, worker = polling_rig
    emulator.add_user(11, language_code="en")
    update = emulator.send_command(11, "start")
    _run_until(worker, lambda: any(m.from_bot for m in emulator.chat(11)))
    assert PollingState.objects.get().last_update_id == update["update_id"]


def test_the_offset_moves_only_after_processing(polling_rig: Any) -> None:
    emulator, worker = polling_rig
    emulator.add_user(12, language_code="en")
    update = emulator.send_command(12, "help")
    with (
        mock.patch.object(polling, "process_update", side_effect=RuntimeError("crash mid-way")),
        pytest.raises(RuntimeError),
    ):
        worker.run_once(poll_timeout=0)
    assert PollingState.objects.get(id=1).last_update_id < update["update_id"]
    assert not ProcessedUpdate.objects.exists()
    # After the "restart" the same update is fetched again and handled once.
    _run_until(worker, lambda: ProcessedUpdate.objects.filter(update_id=update["update_id"]).exists())
    _run_until(worker, lambda: any(m.from_bot for m in emulator.chat(12)))
    assert len([m for m in emulator.chat(12) if m.from_bot]) == 1


PLANTED = {
    "identity": "Plantedov Plant Plantovich, 1987, unit 99999",
    "contact": "call 8-800-PLANTED after 22:00",
    "free": "PLANTED-FREE-TEXT crossing near the bridge",
    "cyrillic": "Засекреченный Плантов",
}


def test_planted_strings_sent_through_the_bot_are_nowhere_at_rest(
    telegram: TelegramRig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = 424242424
    telegram.start(user, "ru")
    telegram.complete_intake(user, {"identity": PLANTED["identity"], "safe_contact": PLANTED["contact"]})
    telegram.say(user, PLANTED["free"])
    telegram.say(user, PLANTED["cyrillic"])
    telegram.act(lambda: telegram.emulator.send_photo(user, b"PLANTED-PHOTO-BYTES" * 10))

    needles = {k: v.encode() for k, v in PLANTED.items()}
    needles["photo"] = b"PLANTED-PHOTO-BYTES"
    needles["chat id"] = str(user).encode()
    if connection.vendor == "sqlite":
        connection.close()
        base = Path(connection.settings_dict["NAME"])
        raw = sqlite_file_bytes(base)
    else:
        raw = backup(tmp_path / "raw.dump").read_bytes()
    dump = backup(tmp_path / "backup.bin").read_bytes()
    for where, blob in (("database", raw), ("backup", dump)):
        found = [label for label, needle in needles.items() if needle in blob]
        assert found == [], f"planted strings in the {where}: {found}"
    logged = caplog.text
    assert [k for k, v in PLANTED.items() if v in logged] == []
    assert str(user) not in logged


def test_the_emulator_access_log_and_ours_carry_no_token(
    telegram: TelegramRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    telegram.start(99, "en")
    assert TOKEN not in caplog.text
    with urllib.request.urlopen(f"{telegram.emulator.base_url}/phone", timeout=5) as response:  # noqa: S310
        assert response.status == 200
    _ = TelegramAdapter
