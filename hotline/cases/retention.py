"""Retention: finished cases older than HOTLINE_RETENTION_DAYS are crypto-shredded."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from hotline.cases.actions import do_shred_case
from hotline.cases.models import Case
from hotline.core.actor import Actor
from hotline.core.lifecycle import FINISHED

log = logging.getLogger(__name__)


def expired_cases(now: datetime, days: int) -> list[Case]:
    cutoff = now - timedelta(days=days)
    return list(
        Case.objects.filter(
            status__in=[s.value for s in FINISHED], finished_at__lt=cutoff, sealed_private_key__isnull=False
        ).order_by("finished_at")[:1000]
    )


def checkpoint_wal() -> None:
    """On SQLite, copy the WAL into the database and empty it, so erased pages linger in no WAL copy.

    Deleted pages are zeroed by secure_delete; a checkpoint cannot run inside a transaction, and a
    busy database makes it a no-op, so it is best effort: the next automatic checkpoint finishes it.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except OperationalError:
        log.warning("retention: WAL checkpoint postponed (database busy)")


def purge_expired(now: datetime | None = None, days: int | None = None) -> int:
    """Shred every expired case (in batches, each case in its own transaction); returns the count."""
    now = now or timezone.now()
    days = settings.HOTLINE_RETENTION_DAYS if days is None else days
    actor = Actor.system("retention")
    total = 0
    while batch := expired_cases(now, days):
        for case in batch:
            do_shred_case(actor, case)
        total += len(batch)
    if total:
        checkpoint_wal()
    log.info("retention: erased %d case(s) finished more than %d days ago", total, days)
    return total
