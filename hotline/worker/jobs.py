"""Scheduled jobs the worker runs, each at most once per interval across all workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from hotline.audit import log as audit_log
from hotline.cases.retention import purge_expired
from hotline.worker.models import ScheduledJob

log = logging.getLogger("hotline.worker")


@dataclass(frozen=True)
class Job:
    name: str
    interval: Callable[[], int]  # seconds, read from settings when the job is scheduled
    run: Callable[[], object]


def _anchor_audit_head() -> None:
    """Copy the audit chain tip to the anchor file (and the log): outside copies that expose a log cut
    back to an earlier head (``hotline audit verify`` reads the file)."""
    seq, digest = audit_log.anchor_head()
    log.info("audit head seq=%d hash=%s", seq, digest)


def _wipe_telegram() -> None:
    from hotline.channels.telegram.conversation import wipe_idle_chats

    wipe_idle_chats()


def _prune_telegram() -> None:
    from hotline.channels.telegram.ingest import prune_processed

    prune_processed()


def _tally_figures() -> None:
    """Count each finished day once (``figures.compute.tally``), so figures read days, not cases."""
    from datetime import timedelta

    from django.utils import timezone

    from hotline.figures.compute import tally

    yesterday = timezone.localdate() - timedelta(days=1)
    tally(yesterday - timedelta(days=400), yesterday)


def _fold_status_counts() -> None:
    from hotline.cases.status_counts import fold

    fold()


def _publish_scheduled_posts() -> None:
    from hotline.news.posts import publish_due

    publish_due()


def _expire_broadcasts() -> None:
    from hotline.news.expiry import expire_broadcast_messages

    expire_broadcast_messages()


def _notify_by_telegram() -> None:
    """Counts of what arrived for each person who asked for Telegram notifications, one message each."""
    from hotline.notify.actions import send_due

    send_due()


JOBS: list[Job] = [
    Job("retention", lambda: settings.HOTLINE_RETENTION_INTERVAL, purge_expired),
    Job("audit-anchor", lambda: settings.HOTLINE_AUDIT_ANCHOR_INTERVAL, _anchor_audit_head),
    Job("telegram-wipe", lambda: settings.TELEGRAM_WIPE_INTERVAL_SECONDS, _wipe_telegram),
    Job("telegram-prune", lambda: 86400, _prune_telegram),
    # A scheduled post goes out within this many seconds of its time; an expired broadcast message
    # is deleted from subscribers' phones within a minute.
    Job("figures-tally", lambda: 3600, _tally_figures),
    # The status counts' appended changes, folded into one row per day and status.
    Job("status-fold", lambda: 300, _fold_status_counts),
    Job("news-publish", lambda: 20, _publish_scheduled_posts),
    Job("news-expire", lambda: 60, _expire_broadcasts),
    Job("notify-telegram", lambda: settings.HOTLINE_NOTIFY_TELEGRAM_SECONDS, _notify_by_telegram),
]


def _claim(job: Job, now: datetime) -> bool:
    ScheduledJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
    claimed = ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=now + timedelta(seconds=job.interval()), last_started_at=now
    )
    return claimed == 1


def run_due_jobs(now: datetime | None = None, stopping: Callable[[], bool] | None = None) -> list[str]:
    """Run every job that is due (none more once ``stopping()``: they stay due for the next worker
    turn); return the names of those this worker ran."""
    now = now or timezone.now()
    ran = []
    for job in JOBS:
        if stopping is not None and stopping():
            break
        if not _claim(job, now):
            continue
        error = ""
        try:
            job.run()
        except Exception as exc:  # one failing job must not stop the others or the worker
            error = type(exc).__name__
            log.exception("job %s failed", job.name)
        ScheduledJob.objects.filter(name=job.name).update(last_finished_at=timezone.now(), last_error=error)
        ran.append(job.name)
    return ran
