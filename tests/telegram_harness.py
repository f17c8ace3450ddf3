"""A Telegram test rig: the Bot API emulator, the hotline's webhook on a live server, and a worker
delivering through the real aiogram client. Tests act as the applicant on the emulator and read what
their phone shows."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.cases.models import ChannelIdentity
from hotline.channels.telegram.adapter import TelegramAdapter
from hotline.channels.telegram.models import ProcessedUpdate
from hotline.core.flow import Session, Step
from hotline.core.metadata import ChannelKind
from hotline.flows import registry
from hotline.flows.runner import load_session
from hotline.outbox.models import OutboxMessage
from hotline.testing.telegram_emulator import TelegramEmulator, VisibleMessage
from hotline.worker.loop import Worker
from tests.process_support import WAIT

TOKEN = "424242:test-token-for-the-emulator"
SECRET = "webhook-secret-for-tests"
CONTROLS = {"b", "p", "s"}


@dataclass
class TelegramRig:
    emulator: TelegramEmulator
    worker: Worker
    webhook_url: str
    users: dict[int, str] = field(default_factory=dict)

    # --- acting as the applicant -------------------------------------------------------------------

    def act(self, do: Callable[[], dict[str, Any]], *, drain: bool = True) -> dict[str, Any]:
        """Let the applicant do something, wait until the hotline stored it, then deliver replies."""
        update = do()
        self.wait_stored(int(update["update_id"]))
        if drain:
            self.drain()
        return update

    # The waits below end when what they wait for happens; the bound only ends a hung run.

    def wait_stored(self, update_id: int, timeout: float = WAIT) -> None:
        """Wait until the hotline took the update: it answered the webhook's POST with 2xx (which it does
        after the commit, or at once for an update over its chat's allowance), or polling stored it."""
        deadline = time.monotonic() + timeout
        while not (
            any(a.update_id == update_id and a.ok for a in self.emulator.webhook_attempts)
            or ProcessedUpdate.objects.filter(update_id=update_id).exists()
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"update {update_id} was not stored within {timeout}s")
            time.sleep(0.02)

    def run_worker_until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Run the worker until ``condition`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the worker never got there")
            if not self.worker.run_once():
                time.sleep(0.01)

    def drain(self, timeout: float = WAIT) -> None:
        """Run the worker until the outbox is empty."""
        deadline = time.monotonic() + timeout
        while OutboxMessage.objects.exists():
            if time.monotonic() > deadline:
                raise AssertionError("the outbox did not drain")
            if not self.worker.run_once():
                time.sleep(0.05)

    def start(self, user_id: int, language: str = "ru") -> None:
        self.ensure_user(user_id, language)
        self.act(lambda: self.emulator.send_command(user_id, "start"))

    def ensure_user(self, user_id: int, language: str = "ru") -> None:
        if user_id not in self.users:
            try:
                self.emulator.user(user_id)
            except Exception:  # not created yet
                self.emulator.add_user(user_id, first_name="Applicant", language_code=language)
            self.users[user_id] = language

    def say(self, user_id: int, text: str) -> None:
        self.act(lambda: self.emulator.send_text(user_id, text))

    def press(self, user_id: int, data: str) -> dict[str, Any]:
        message = self.last_bot_message_with(user_id, data)
        return self.act(lambda: self.emulator.press_button(user_id, message.message_id, data=data))

    # --- reading the phone --------------------------------------------------------------------------

    def phone(self, user_id: int) -> list[VisibleMessage]:
        return self.emulator.chat(user_id)

    def bot_texts(self, user_id: int) -> list[str]:
        return [m.text or "" for m in self.phone(user_id) if m.from_bot]

    def last_bot_message_with(self, user_id: int, data: str) -> VisibleMessage:
        for message in reversed(self.phone(user_id)):
            if message.from_bot and data in button_data(message):
                return message
        raise AssertionError(f"no bot message offers the button {data!r}")

    # --- the hotline's side ---------------------------------------------------------------------------

    def identity(self, user_id: int) -> ChannelIdentity:
        from hotline.cases.actions import find_identity

        found = find_identity(ChannelKind.TELEGRAM, str(user_id))
        assert found is not None
        return found

    def session(self, user_id: int) -> Session | None:
        return load_session(self.identity(user_id), lock=False)[1]

    def restart_worker(self) -> None:
        self.worker.close()
        self.worker = Worker(adapters={"telegram": TelegramAdapter()}, polling=False)

    def walk_until(self, user_id: int, kinds: set[str]) -> Step:
        """Answer questions until the current one is of one of ``kinds``; return that step."""
        for _ in range(60):
            session = self.session(user_id)
            assert session is not None and session.step is not None, "the flow ended first"
            step = registry.version(session.flow_id, session.flow_version).steps[session.step]
            if step.kind in kinds:
                return step
            self._answer(user_id, step, {}, 0)
        raise AssertionError("no such step within 60 steps")

    def _answer(self, user_id: int, step: Step, answers: dict[str, str], choose: int) -> None:
        if step.kind == "choice":
            values = [o.value for o in step.options]
            self.press(user_id, f"f|{step.id}|{answers.get(step.id, values[min(choose, len(values) - 1)])}")
        elif step.kind == "yesno":
            self.press(user_id, f"f|{step.id}|{answers.get(step.id, 'yes')}")
        elif step.kind == "number":
            self.say(user_id, answers.get(step.id, str(step.min or 2)))
        else:
            self.say(user_id, answers.get(step.id, f"answer to {step.id}"))

    def complete_intake(self, user_id: int, answers: dict[str, str] | None = None, *, choose: int = 0) -> None:
        """Walk the intake flow to its end: the first option of each choice (or ``choose``-th), yes to
        yes/no questions, ``answers[step]`` or a default for text and number steps."""
        answers = answers or {}
        for _ in range(60):
            session = self.session(user_id)
            if session is None or session.status != "active" or session.step is None:
                return
            step = registry.version(session.flow_id, session.flow_version).steps[session.step]
            self._answer(user_id, step, answers, choose)
        raise AssertionError("the intake did not end within 60 steps")


def button_data(message: VisibleMessage) -> list[str]:
    markup = message.reply_markup or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def set_webhook(emulator: TelegramEmulator, url: str, secret: str = SECRET) -> None:
    body = urllib.parse.urlencode({"url": url, "secret_token": secret}).encode()
    request = urllib.request.Request(f"{emulator.base_url}/bot{TOKEN}/setWebhook", data=body)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local emulator)
        assert json.loads(response.read())["ok"]
