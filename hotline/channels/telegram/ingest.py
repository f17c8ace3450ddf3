"""Storing an update durably: de-duplicated by ``update_id`` in the transaction that stores its effects."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from django.db import DatabaseError, IntegrityError, connection
from django.utils import timezone

from hotline import rows
from hotline.cases.actions import find_identity
from hotline.core.metadata import ChannelKind
from hotline.dbwrite import run_write
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority

from .conversation import handle_update
from .models import ProcessedUpdate
from .phrases import language_for, phrase

if TYPE_CHECKING:
    from aiogram.types import Update

log = logging.getLogger("hotline.telegram")

Outcome = Literal["stored", "duplicate", "failed"]


def process_update(update: Update) -> Outcome:
    """Store one update and everything it causes, exactly once; returns after the commit.

    Raises DatabaseError when the database is unavailable, so the webhook answers 503 and Telegram
    redelivers. A bug in handling one update must not make Telegram redeliver it forever: it is
    recorded as processed and the person gets a polite error message.
    """
    for attempt in range(3):
        try:
            return run_write(_store, update)
        except IntegrityError:
            # Two deliveries of one update, or two first messages of one new chat, raced: try again.
            if attempt == 2:
                raise
        except DatabaseError:
            raise
        except Exception as exc:
            log.error("telegram: update %d could not be handled (%s)", update.update_id, type(exc).__name__)
            return run_write(_record_failure, update)
    return "stored"


def _store(update: Update) -> Outcome:
    if not _claim(update.update_id):
        return "duplicate"
    handle_update(update)
    return "stored"


def _claim(update_id: int) -> bool:
    """Record the update id; False if it was recorded before (one statement, no read-then-write race)."""
    table = ProcessedUpdate._meta.db_table
    sql = f"INSERT INTO {table} (update_id, at) VALUES (%s, %s) ON CONFLICT (update_id) DO NOTHING"  # noqa: S608
    return rows.execute(sql, [update_id, connection.ops.adapt_datetimefield_value(timezone.now())])[1] == 1


def _record_failure(update: Update) -> Outcome:
    """Mark an update that could not be handled as processed, and tell the person something went wrong."""
    if not _claim(update.update_id):
        return "duplicate"
    chat = update.message.chat if update.message else None
    if chat is None or chat.type != "private":
        return "failed"
    identity = find_identity(ChannelKind.TELEGRAM, str(chat.id))
    if identity is not None:
        from_user = update.message.from_user if update.message else None
        language = language_for(from_user.language_code if from_user else None)
        enqueue(
            "telegram",
            "send",
            {"chat_id": chat.id, "text": phrase("error", language)},
            identity=identity,
            priority=Priority.INTERACTIVE,
        )
    return "failed"


def prune_processed(days: int = 7) -> int:
    """Telegram stops redelivering after a day; keep a week of update ids, then forget them."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ProcessedUpdate.objects.filter(at__lt=cutoff).delete()
    return deleted
