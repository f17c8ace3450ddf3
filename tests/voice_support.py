"""The phone line under test: the provider emulator in front of the hotline's webhooks, and the worker."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.test import Client

from hotline.channels.voice.adapter import VoiceAdapter
from hotline.testing.telegram_emulator import TelegramEmulator
from hotline.testing.voice_demo import VoiceDemo
from hotline.testing.voice_emulator import DjangoClientTransport, VoiceProvider
from hotline.worker.loop import Worker

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "voice-auth-token-for-tests"
HOTLINE_NUMBER = "+15550100"
BASE = "http://testserver"
DEMO_TOKEN = "424242:VOICE-demo"


@dataclass
class VoiceRig:
    provider: VoiceProvider
    worker: Worker

    def deliver(self) -> None:
        """Run the worker until the outbox has nothing due (fetch, seal, delete, place calls)."""
        for _ in range(20):
            # The deliverer itself: ``Worker.run_once`` would close the test's transaction's connection.
            if self.worker.deliverer.deliver_some() == 0:
                return
        raise AssertionError("the worker kept finding work")


def voice_rig(org: Any, settings: Any) -> Iterator[VoiceRig]:
    """The ``voice`` fixture (tests/conftest.py)."""
    settings.VOICE_AUTH_TOKEN = TOKEN
    settings.VOICE_ACCOUNT_SID = ACCOUNT
    settings.VOICE_NUMBER = HOTLINE_NUMBER
    settings.VOICE_PUBLIC_URL = BASE
    provider = VoiceProvider(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        number=HOTLINE_NUMBER,
        incoming_url=f"{BASE}/voice/incoming",
        status_url=f"{BASE}/voice/status",
        transport=DjangoClientTransport(Client()),
    )
    provider.calls_per_second = None  # the 429 path has its own test
    provider.start_api()
    settings.VOICE_API_BASE = provider.api_base
    worker = Worker(adapters={"phone": VoiceAdapter()}, polling=False)
    try:
        yield VoiceRig(provider, worker)
    finally:
        worker.close()
        provider.stop()


# --- the demo's phone line (hotline serve --demo): the page's keypad, over HTTP, against a live server ---


@dataclass
class Demo:
    emulator: TelegramEmulator
    voice: VoiceDemo

    def request(self, body: Any = None) -> tuple[int, dict[str, Any]]:
        """``POST /phone/call`` with ``body`` as JSON, as the page does (``GET`` without a body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the local emulator)
            f"{self.emulator.base_url}/phone/call", data=data, headers={"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def call(self, keys: str, *, message: bool = False) -> dict[str, Any]:
        status, answer = self.request({"keys": keys, "message": message})
        assert status == 200 and answer["ok"], answer
        result: dict[str, Any] = answer["result"]
        return result


def voice_demo_rig(live_server_url: str, settings: Any) -> Iterator[Demo]:
    """The ``voice_demo`` fixture (tests/conftest.py): the pieces ``hotline serve --demo`` starts, with
    the live server in place of serve's web processes."""
    voice = VoiceDemo(live_server_url).start()
    for name, value in voice.env().items():
        setattr(settings, name, value)
    emulator = TelegramEmulator(DEMO_TOKEN).start()
    emulator.phone_line = voice
    try:
        yield Demo(emulator, voice)
    finally:
        emulator.stop()
        voice.stop()
