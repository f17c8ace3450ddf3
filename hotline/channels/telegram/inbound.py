"""The per-chat inbound allowance, first stage: in the web process, before the database.

Each chat may send ``TELEGRAM_INBOUND_BURST`` updates at once, then ``TELEGRAM_INBOUND_PER_MINUTE``
(``conversation.inbound_allowed`` keeps the exact count in the database, in the update's
transaction). A flood would still cost one write transaction per update just to be dropped there,
and crowd out everybody else's updates, so each web process keeps the same allowance in memory and
drops what is over it before any database work:

* a process sees only some of a chat's updates, so when its own count for a chat is spent the chat
  is over its allowance overall: the drop is always right (with N processes a chat may get up to N
  times the allowance through this stage; the database stage then holds it to one);
* the first update this stage would drop in a flood still goes on to the database stage, which
  answers it with the one polite notice and marks the case;
* a dropped message is still traced, so the wipe deletes it from the phone: traces are gathered and
  written in one batch about every second (a process killed meanwhile loses those traces; the
  messages then stay on the sender's phone). The count of dropped updates reaches the chat's row
  in the same batch.

Chats are held under a keyed hash made with a per-process random key, in a bounded table; nothing
here is written anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from django.conf import settings

from hotline.portal.limits import Buckets

if TYPE_CHECKING:
    from aiogram.types import Update

log = logging.getLogger("hotline.telegram")

_PROCESS_KEY = secrets.token_bytes(32)


def _new_process_key() -> None:
    """A process forked from this one (``hotline serve``'s children) makes a key of its own."""
    global _PROCESS_KEY
    _PROCESS_KEY = secrets.token_bytes(32)


os.register_at_fork(after_in_child=_new_process_key)

MAX_CHATS = 100_000
FLUSH_SECONDS = 1.0
FLUSH_SIZE = 500


def clock() -> float:
    """The stage's clock (one place, so tests can pin it)."""
    return time.monotonic()


def chat_of(update: Update) -> int | None:
    """The private chat an update comes from, or None for kinds the allowance does not cover."""
    if update.message is not None:
        return update.message.chat.id if update.message.chat.type == "private" else None
    query = update.callback_query
    if query is not None:
        return query.message.chat.id if query.message is not None else query.from_user.id
    return None


class _Stage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shape: tuple[float, float] | None = None
        self._buckets: Buckets | None = None
        self._announced: OrderedDict[bytes, None] = OrderedDict()
        self._traces: list[tuple[int, int | None]] = []
        self._timer: threading.Timer | None = None

    def _current(self) -> Buckets:
        shape = (settings.TELEGRAM_INBOUND_PER_MINUTE / 60, float(settings.TELEGRAM_INBOUND_BURST))
        if self._buckets is None or shape != self._shape:
            self._shape, self._buckets = shape, Buckets(*shape, max_clients=MAX_CHATS)
            self._announced.clear()
        return self._buckets

    def drop(self, update: Update) -> bool:
        """True when the update is over its chat's allowance and was dropped here (answer 200)."""
        chat = chat_of(update)
        if chat is None:
            return False
        key = hashlib.blake2b(str(chat).encode(), key=_PROCESS_KEY, digest_size=16).digest()
        with self._lock:
            buckets = self._current()
        if buckets.take(key, clock()) == 0.0:
            with self._lock:
                self._announced.pop(key, None)
            return False
        with self._lock:
            if key not in self._announced:  # the flood's first drop: the database stage answers it
                self._announced[key] = None
                if len(self._announced) > MAX_CHATS:
                    self._announced.popitem(last=False)
                return False
            message_id = update.message.message_id if update.message is not None else None
            self._traces.append((chat, message_id))
            full = len(self._traces) >= FLUSH_SIZE
            if self._timer is None and not full:
                self._timer = threading.Timer(FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()
        return True

    def flush(self) -> int:
        """Write the dropped updates' traces and counts now; returns how many were written."""
        with self._lock:
            traces, self._traces = self._traces, []
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if not traces:
            return 0
        from hotline.dbwrite import run_write

        from .conversation import record_dropped

        try:
            run_write(record_dropped, traces)
        except Exception as exc:  # the traces are lost; the messages stay on the sender's phone
            log.warning("telegram: %d dropped updates could not be traced (%s)", len(traces), type(exc).__name__)
            return 0
        return len(traces)

    def reset(self) -> None:
        with self._lock:
            self._buckets, self._shape = None, None
            self._announced.clear()
            self._traces = []
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None


_stage = _Stage()
drop = _stage.drop
flush = _stage.flush
reset = _stage.reset
