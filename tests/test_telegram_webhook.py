"""The webhook's contract with Telegram: secret checked, parsing strict, each update stored once,
2xx only after commit, 503 while the database is down (so Telegram retries)."""

from __future__ import annotations

import json
import threading
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import Client

from hotline.cases.models import Applicant, Case, ChannelIdentity
from hotline.channels.telegram import ingest
from hotline.channels.telegram.models import ProcessedUpdate
from hotline.outbox.models import OutboxMessage
from tests.conftest import Org
from tests.process_support import wait_until
from tests.telegram_harness import SECRET, TelegramRig

URL = "/telegram/webhook"


def _update(update_id: int, text: str = "/start", chat_id: int = 555, **extra: Any) -> dict[str, Any]:
    message = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": "A"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "A", "language_code": "ru"},
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message, **extra}


def _post(client: Client, body: object, secret: str | None = SECRET) -> Any:
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


@pytest.fixture
def configured(settings: Any, org: Org) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_BOT_TOKEN = "1:x"


def test_a_wrong_or_missing_secret_is_refused_and_nothing_stored(client: Client, configured: None) -> None:
    assert _post(client, _update(1), secret="wrong").status_code == 403
    assert _post(client, _update(1), secret=None).status_code == 403
    assert _post(client, _update(1), secret=SECRET + "x").status_code == 403
    assert not ProcessedUpdate.objects.exists()
    assert not ChannelIdentity.objects.exists()


def test_the_webhook_is_off_without_a_secret(client: Client, settings: Any, db: None) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert _post(client, _update(1), secret="").status_code == 404


def test_a_good_update_is_stored_with_its_reply_queued(client: Client, configured: None) -> None:
    response = _post(client, _update(10))
    assert response.status_code == 200 and response.json() == {"ok": True, "result": "stored"}
    assert ProcessedUpdate.objects.filter(update_id=10).exists()
    assert OutboxMessage.objects.filter(kind="send").exists()


def test_a_duplicate_update_is_stored_once(client: Client, configured: None) -> None:
    assert _post(client, _update(20)).json()["result"] == "stored"
    queued = OutboxMessage.objects.count()
    assert _post(client, _update(20)).json()["result"] == "duplicate"
    assert OutboxMessage.objects.count() == queued
    assert ProcessedUpdate.objects.filter(update_id=20).count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        (b"\xff\xfe", 400),
        ("[1, 2]", 400),
        ({"message": {}}, 400),
        ({"update_id": "7"}, 400),
        ({"update_id": True}, 400),
        ({"update_id": 5, "message": {"chat": "nope"}}, 400),
    ],
)
def test_malformed_bodies_get_400(client: Client, configured: None, body: object, status: int) -> None:
    assert _post(client, body).status_code == status
    assert not ProcessedUpdate.objects.exists()


def test_update_kinds_it_does_not_handle_get_200(client: Client, configured: None) -> None:
    edited = {"update_id": 30, "edited_message": {**_update(30)["message"], "edit_date": 1_700_000_100}}
    group = _update(31)
    group["message"]["chat"] = {"id": -100, "type": "group", "title": "g"}
    for body in (edited, group, {"update_id": 32}):
        response = _post(client, body)
        assert response.status_code == 200, response.content
    assert not ChannelIdentity.objects.exists()


def test_only_post_is_allowed(client: Client, configured: None) -> None:
    assert client.get(URL).status_code == 405


def test_a_huge_body_is_refused(client: Client, configured: None) -> None:
    response = _post(client, _update(40, text="x" * 2_000_000))
    assert response.status_code == 413
    assert response.json()["error"] == "The request is too large: at most 1048576 bytes are accepted."


def test_a_body_far_past_every_limit_gets_413_with_a_reason(client: Client, configured: None) -> None:
    """30 MB is past Django's own limit for a request body too: the answer is still a 413 that says why."""
    response = _post(client, b'{"update_id": 41, "x": "' + b"x" * 30_000_000 + b'"}')
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error": "The request is too large: at most 2621440 bytes are accepted."}
    assert not ProcessedUpdate.objects.exists()


def _with(update: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``update`` with the field at the dotted ``path`` set to ``value``."""
    changed = json.loads(json.dumps(update))
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[last] = value
    return changed


BEYOND_64_BITS = [
    ("update_id", 2**63),
    ("update_id", -(2**63) - 1),
    ("message.chat.id", 2**64),
    ("message.from.id", -(2**70)),
    ("message.message_id", 10**20),
    ("message.date", 2**64),
    ("message.unknown_field", [1, {"deep": 2**100}]),
    # pydantic turns a string of digits into an integer where the model wants one
    ("message.message_id", "100000000000000000000"),
    ("message.chat.id", "-100000000000000000000"),
]


@pytest.mark.parametrize(("path", "value"), BEYOND_64_BITS, ids=[f"{p}={v}" for p, v in BEYOND_64_BITS])
def test_an_integer_beyond_64_bits_anywhere_in_an_update_gets_400(
    client: Client, configured: None, path: str, value: object
) -> None:
    """Before: 500 on SQLite (the driver's OverflowError), 503 on PostgreSQL (Telegram would retry for a day)."""
    response = _post(client, _with(_update(42), path, value))
    assert response.status_code == 400
    assert "64-bit" in response.json()["error"]
    assert not ProcessedUpdate.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_the_largest_64_bit_integers_are_still_taken(client: Client, configured: None) -> None:
    update = _with(_update(2**63 - 1, chat_id=-(2**63)), "message.message_id", 2**63 - 1)
    assert _post(client, update).status_code == 200
    assert ProcessedUpdate.objects.filter(update_id=2**63 - 1).exists()


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_json_nested_too_deeply_gets_400(client: Client, configured: None, depth: int) -> None:
    """Before: 500 at a depth of about 1,000 (RecursionError is not a ValueError)."""
    body = '{"update_id": 43, "x": ' + "[" * depth + "]" * depth + "}"
    response = _post(client, body)
    assert response.status_code == 400
    assert "nested" in response.json()["error"]
    assert not ProcessedUpdate.objects.exists()


def test_nesting_as_deep_as_a_real_update_is_taken(client: Client, configured: None) -> None:
    update = _with(_update(44), "message.extra", json.loads("[" * 29 + "]" * 29))
    assert _post(client, update).status_code == 200


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_get_400(client: Client, configured: None, literal: str) -> None:
    body = json.dumps(_with(_update(45), "message.extra", "here")).replace('"here"', literal)
    response = _post(client, body)
    assert response.status_code == 400 and response.json()["ok"] is False
    assert not ProcessedUpdate.objects.exists()


def test_database_down_gives_503_and_the_redelivered_update_is_stored_once(telegram: TelegramRig) -> None:
    """Telegram (the emulator) retries until it gets a 2xx."""
    telegram.ensure_user(600, "ru")
    original = ingest._claim

    test_thread = threading.current_thread()

    def flaky(*args: Any, **kwargs: Any) -> Any:
        # Down through the first two deliveries (however many times each runs the work: a batch that
        # fails is run again), up from the third on. The emulator records a delivery once answered.
        if threading.current_thread() is not test_thread and len(telegram.emulator.webhook_attempts) < 2:
            raise OperationalError("the database is down")
        return original(*args, **kwargs)

    with mock.patch.object(ingest, "_claim", side_effect=flaky):
        update = telegram.emulator.send_command(600, "start")
        telegram.wait_stored(int(update["update_id"]))
    wait_until(
        lambda: any(a.ok for a in telegram.emulator.webhook_attempts if a.update_id == update["update_id"]),
        "the redelivery acknowledged",
    )
    attempts = [a for a in telegram.emulator.webhook_attempts if a.update_id == update["update_id"]]
    assert [a.status for a in attempts][:2] == [503, 503] and attempts[-1].status == 200
    assert ProcessedUpdate.objects.filter(update_id=update["update_id"]).count() == 1
    assert Applicant.objects.count() == 1 and Case.objects.count() == 0


def test_set_and_delete_webhook_commands(telegram: TelegramRig, settings: Any) -> None:
    out = StringIO()
    call_command("telegram", "set-webhook", telegram.webhook_url, stdout=out)
    assert "Webhook set" in out.getvalue()
    call_command("telegram", "info", stdout=out)
    assert telegram.webhook_url in out.getvalue()
    call_command("telegram", "delete-webhook", stdout=out)
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram", "set-webhook", telegram.webhook_url)
