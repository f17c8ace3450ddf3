"""``hotline worker``: scheduled jobs, outbox delivery and (if configured) Telegram long polling,
until SIGTERM or Ctrl-C. Several workers may run against PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hotline.keyring.actions import KeyringError, check_server_keys
from hotline.worker.loop import Worker
from hotline.worker.supervise import mark_ready

log = logging.getLogger("hotline.worker")


class Command(BaseCommand):
    help = "Run the background worker: outbox delivery, Telegram polling, retention and chat wiping."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="do what is due once and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        if not options["once"]:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        try:
            check_server_keys()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        worker = Worker()
        if worker.polling and not settings.HOTLINE_WRITER_SOCKET and not options["once"]:
            # Long polling answers questions here (unless the writer process stores the updates).
            from hotline.kb.search import warm_up

            warm_up()
        try:
            if options["once"]:
                worker.run_once()
                return
            log.info("worker started (channels: %s)", ", ".join(worker.adapters) or "none")
            if settings.HOTLINE_SERVE_STATUS is not None:  # under `hotline serve`: it counts us down until now
                mark_ready(settings.HOTLINE_SERVE_STATUS, os.getpid())
            while not self.stopping:
                if not worker.run_once(poll_timeout=1, stopping=lambda: self.stopping):
                    self._sleep(0.2 if worker.polling else settings.HOTLINE_WORKER_POLL_SECONDS)
        finally:
            worker.close()
        log.info("worker stopped")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
