"""What one worker process does each turn: scheduled jobs, outbox delivery, Telegram polling.

Tests drive :meth:`Worker.run_once` directly; ``hotline worker`` calls it in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from hotline.audit import log as audit_log
from hotline.channels.base import ChannelAdapter, registered
from hotline.outbox.delivery import Deliverer
from hotline.worker.jobs import run_due_jobs

log = logging.getLogger("hotline.worker")


class Worker:
    def __init__(self, adapters: dict[str, ChannelAdapter] | None = None, *, polling: bool | None = None) -> None:
        self.telegram_client = None
        if adapters is None:
            adapters = {}
            for channel in registered():
                adapter = channel.adapter()
                if adapter is not None:
                    adapters[channel.kind] = adapter
        self.adapters = adapters
        self.deliverer = Deliverer(adapters)
        self.polling = (settings.TELEGRAM_MODE == "polling" and "telegram" in adapters) if polling is None else polling

    def run_once(self, poll_timeout: int = 0, stopping: Callable[[], bool] | None = None) -> bool:
        """One turn; True if it found work (the caller sleeps only when there was none). ``stopping``:
        the worker was asked to stop, so delivery claims nothing more and the turn ends soon."""
        close_old_connections()
        found = False
        try:
            found = bool(run_due_jobs(stopping=stopping))
            found = audit_log.chain_parked(wait=False) > 0 or found
            found = self.deliverer.deliver_some(stopping=stopping) > 0 or found
            if self.polling:
                from hotline.channels.telegram.adapter import TelegramAdapter
                from hotline.channels.telegram.polling import poll_once

                adapter = self.adapters["telegram"]
                assert isinstance(adapter, TelegramAdapter)
                found = poll_once(adapter.client, timeout=0 if found else poll_timeout) > 0 or found
        except DatabaseError:
            log.warning("database unavailable; retrying")
        return found

    def close(self) -> None:
        self.deliverer.close()
        for adapter in self.adapters.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                close()
