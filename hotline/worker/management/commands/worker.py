"""``hotline worker``: runs scheduled jobs (and, later, outbox delivery) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import time
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from hotline.keyring.actions import check_server_keys
from hotline.worker.jobs import run_due_jobs

log = logging.getLogger("hotline.worker")


class Command(BaseCommand):
    help = "Run the background worker (scheduled jobs: retention, audit anchoring)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="run what is due once and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        check_server_keys()
        if options["once"]:
            run_due_jobs()
            return
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("worker started")
        from django.conf import settings

        while not self.stopping:
            close_old_connections()
            try:
                run_due_jobs()
            except DatabaseError:
                log.warning("database unavailable; retrying")
            self._sleep(settings.HOTLINE_WORKER_POLL_SECONDS)
        log.info("worker stopped")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
