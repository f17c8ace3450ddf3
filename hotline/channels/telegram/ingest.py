"""Storing an update durably: de-duplicated by ``update_id`` in the transaction that stores its effects."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal

from aiogram.types import Update
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from hotline.audit import log as audit
from hotline.cases.actions import find_identity
from hotline.core.metadata import ChannelKind
from hotline.dbwrite import write_turn
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority

from .conversation import handle_update
from .models import ProcessedUpdate
from .phrases import phrase

log = logging.getLogger("hotline.telegram")

Outcome = Literal["stored", "duplicate", "failed"]


def process_update(update: Update) -> Outcome:
    """Store one update and everything it causes, exactly once.

    Raises DatabaseError when the database is unavailable, so the webhook answers 503 and Telegram
    redelivers. A bug in handling one update must not make Telegram redeliver it forever: it is
    recorded as processed and the person gets a polite error message.
    """
    for attempt in range(3):
        try:
            with write_turn(), transaction.atomic():
                if not _claim(update.update_id):
                    return "duplicate"
                with audit.batch():
                    handle_update(update)
            return "stored"
        except IntegrityError:
            # Two deliveries of one update, or two first messages of one new chat, raced: try again.
            if attempt == 2:
                raise
        except DatabaseError:
            raise
        except Exception as exc:
            log.error("telegram: update %d could not be handled (%s)", update.update_id, type(exc).__name__)
            return _record_failure(update)
    return "stored"


def _claim(update_id: int) -> bool:
    """Record the update id; False if it was recorded before (one statement, no read-then-write race)."""
    table = ProcessedUpdate._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (update_id, at) VALUES (%s, %s) ON CONFLICT (update_id) DO NOTHING",  # noqa: S608
            [update_id, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        return bool(cursor.rowcount == 1)


def _record_failure(update: Update) -> Outcome:
    with transaction.atomic():
        if ProcessedUpdate.objects.filter(update_id=update.update_id).exists():
            return "duplicate"
        ProcessedUpdate.objects.create(update_id=update.update_id, at=timezone.now())
        chat = update.message.chat if update.message else None
        if chat is not None and chat.type == "private":
            identity = find_identity(ChannelKind.TELEGRAM, str(chat.id))
            if identity is not None:
                language = (
                    update.message.from_user.language_code if update.message and update.message.from_user else None
                )
                from .phrases import language_for

                enqueue(
                    "telegram",
                    "send",
                    {"chat_id": chat.id, "text": phrase("error", language_for(language))},
                    identity=identity,
                    priority=Priority.INTERACTIVE,
                )
    return "failed"


def prune_processed(days: int = 7) -> int:
    """Telegram stops redelivering after a day; keep a week of update ids, then forget them."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ProcessedUpdate.objects.filter(at__lt=cutoff).delete()
    return deleted
