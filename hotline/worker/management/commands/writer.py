"""``hotline writer``: the writer process, which commits the web processes' busy-path writes
(Telegram updates, web form submissions) in group commits, one process for the whole database.

``hotline serve`` runs it on SQLite and tells the web processes and the worker where it listens
(``HOTLINE_WRITER_SOCKET``). A deployment that runs the web server itself can run it the same way.
"""

from __future__ import annotations

import gc
import logging
import signal
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hotline.dbwrite import WriterServer
from hotline.keyring.actions import KeyringError, check_server_keys

log = logging.getLogger("hotline.db")


class Command(BaseCommand):
    help = "Run the writer process: group commits for the web processes' Telegram updates and form submissions."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--socket", required=True, help="the Unix socket to listen on (HOTLINE_WRITER_SOCKET)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            check_server_keys()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        if settings.TELEGRAM_MODE != "off":
            from hotline.kb.search import warm_up  # a question to the bot is answered inside the write turn

            warm_up()
        gc.freeze()  # start-up's objects stay; a full collection would stop every caller (see hotline/wsgi.py)
        self.server = WriterServer(options["socket"])
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.server.serve()
        log.info("db: the writer process stopped after %d batches", self.server.batches)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.server.stop()
