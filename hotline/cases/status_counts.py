"""How many of the cases opened each day are in each status now, kept as they change.

The figures' status breakdown ("of the cases opened this year, how many are completed") would
otherwise count every case of the period at every release. Instead:

* the actions append a :class:`StatusChange` (+1 / -1 on the case's opening day) in the same
  transaction as the case opening or the transition, so the counts are never ahead of or behind the
  cases, and nothing is updated in place on the hot path (no row every opening contends for);
* the worker's ``figures-tally`` job folds those rows into :class:`StatusDay` (one row per day and
  status) and deletes them;
* a reader adds the unfolded changes to the folded days.

:func:`rebuild` recounts everything from the cases (a migration, a repair, a bench that writes cases
directly).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from hotline import rows
from hotline.cases.models import Case, StatusChange, StatusDay

FOLD_BATCH = 20_000
_PG_LOCK = 0x68_6F_74_6C_69_6E_65  # "hotline": one folder at a time on PostgreSQL


def opening_day(created_at: datetime) -> date:
    return timezone.localtime(created_at).date()


def opened(case: Case) -> None:
    """A case was opened (call inside its transaction)."""
    rows.add(StatusChange(day=opening_day(case.created_at), status=str(case.status), delta=1))


def moved(case: Case, old: str, new: str) -> None:
    """A case moved from ``old`` to ``new`` (call inside the transition's transaction)."""
    if old == new:
        return
    day = opening_day(case.created_at)
    rows.add_all([StatusChange(day=day, status=old, delta=-1), StatusChange(day=day, status=new, delta=1)])


def counts(start: date, end: date) -> dict[str, int]:
    """Cases opened from ``start`` to ``end`` (both included), by their status now."""
    found: dict[str, int] = defaultdict(int)
    days = StatusDay.objects.filter(day__gte=start, day__lte=end).order_by().values("status")
    for status, n in days.annotate(n=Sum("count")).values_list("status", "n"):
        found[status] += n or 0
    pending = StatusChange.objects.filter(day__gte=start, day__lte=end).order_by().values("status")
    for status, n in pending.annotate(n=Sum("delta")).values_list("status", "n"):
        found[status] += n or 0
    return {status: n for status, n in found.items() if n}


def fold(batch: int = FOLD_BATCH) -> int:
    """Fold appended changes into the per-day counts, ``batch`` at a time; return how many were folded.

    Each batch is one transaction: the rows read are exactly the rows deleted, so a change committed
    while a batch runs waits for the next one. Folds never run side by side (SQLite's single writer;
    an advisory lock on PostgreSQL), so no change is counted twice."""
    folded = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK])
            taken = list(StatusChange.objects.order_by("id").values_list("id", "day", "status", "delta")[:batch])
            if not taken:
                return folded
            sums: dict[tuple[date, str], int] = defaultdict(int)
            for _id, day, status, delta in taken:
                sums[(day, status)] += delta
            for (day, status), n in sums.items():
                if n and not StatusDay.objects.filter(day=day, status=status).update(count=F("count") + n):
                    StatusDay.objects.create(day=day, status=status, count=n)
            ids = [row[0] for row in taken]
            for i in range(0, len(ids), 1000):
                StatusChange.objects.filter(id__in=ids[i : i + 1000]).delete()
        folded += len(taken)
        if len(taken) < batch:
            return folded


def rebuild() -> None:
    """Count every case again, from the cases: the folded counts replaced, pending changes dropped.
    For a migration, a repair or a bench that wrote cases directly; on PostgreSQL run it while nothing
    else changes cases (a transition committed during the count would be dropped with its change)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK])
        recount(Case, StatusChange, StatusDay)


def recount(case: type[Case], change: type[StatusChange], status_day: type[StatusDay]) -> None:
    """:func:`rebuild`'s work on the given models (a migration passes its historical ones)."""
    trunc = TruncDay("created_at", tzinfo=timezone.get_current_timezone())
    grouped = case.objects.order_by().annotate(d=trunc).values("d", "status").annotate(n=Count("id"))
    totals: dict[tuple[date, str], int] = defaultdict(int)
    for bucket, status, n in grouped.values_list("d", "status", "n"):
        if isinstance(bucket, datetime):
            day = (timezone.localtime(bucket) if timezone.is_aware(bucket) else bucket).date()
        else:
            day = date.fromisoformat(str(bucket)[:10])
        totals[(day, status)] += n
    change.objects.all().delete()
    status_day.objects.all().delete()
    status_day.objects.bulk_create(
        [status_day(day=day, status=status, count=n) for (day, status), n in totals.items()], batch_size=2000
    )
