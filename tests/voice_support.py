"""The phone line under test: the provider emulator in front of the hotline's webhooks, and the worker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.test import Client

from hotline.channels.voice.adapter import VoiceAdapter
from hotline.testing.voice_emulator import DjangoClientTransport, VoiceProvider
from hotline.worker.loop import Worker

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "voice-auth-token-for-tests"
HOTLINE_NUMBER = "+15550100"
BASE = "http://testserver"


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
