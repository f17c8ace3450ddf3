"""Counting for the figures: every number here is one aggregate query in the database (GROUP BY on
indexed columns, truncation to day / week / month there too); nothing loops over cases in Python, so
the cost grows with the number of groups, not with the number of cases.

Finished days are read from the daily tally (``FigureDay``, kept by :func:`tally`): a year of a
million cases is a few thousand tally rows. Only today is counted from the cases themselves. The
status breakdown (a case's status is what it is now) reads the per-day counts the actions keep as
cases open and move (``hotline.cases.status_counts``).

A period is two dates, both included, in the server's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from hotline.cases import status_counts
from hotline.cases.models import Case
from hotline.channels.voice.models import Call
from hotline.core.lifecycle import Status
from hotline.core.metadata import Category, ChannelKind, Region
from hotline.figures.models import FigureDay
from hotline.kb.models import AutoAnswerDay
from hotline.news import subscribers
from hotline.news.models import Broadcast

LANGUAGES = ("ru", "uk", "en")
UNITS = ("day", "week", "month")
# Breakdowns of the cases opened in a period: each is one table of one population, so a release can
# round them all together (controlled rounding shares the total between them).
FIELD_BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "channel": tuple(c.value for c in ChannelKind),
    "category": tuple(c.value for c in Category),
    "region": tuple(r.value for r in Region),
    "status": tuple(s.value for s in Status),
    "language": (*LANGUAGES, "unknown"),
}
TIME_BREAKDOWNS = ("month", "week")
BREAKDOWNS: tuple[str, ...] = (*FIELD_BREAKDOWNS, *TIME_BREAKDOWNS)
CALL_OUTCOMES = ("answered", "missed", "voicemail", "callback", "informed")
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.get_current_timezone())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def cases_in(period: Period) -> QuerySet[Case]:
    return Case.objects.filter(created_at__gte=period.since, created_at__lt=period.until)


def buckets(period: Period, unit: str) -> list[date]:
    """Every day / week (Monday) / month (first day) the period touches, in order."""
    if unit == "day":
        return [period.start + timedelta(days=i) for i in range(period.days)]
    if unit == "week":
        first = period.start - timedelta(days=period.start.weekday())
        return [first + timedelta(weeks=i) for i in range((period.end - first).days // 7 + 1)]
    out, current = [], period.start.replace(day=1)
    while current <= period.end:
        out.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return out


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        moment: datetime = timezone.localtime(value) if timezone.is_aware(value) else value
        return moment.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


TALLIED_FIELDS = ("channel", "category", "region", "language")


def _split(period: Period) -> tuple[Period | None, Period | None]:
    """The period's finished days (read from the tally) and the rest (counted from the cases)."""
    today = timezone.localdate()
    if period.end < today:
        return period, None
    if period.start >= today:
        return None, period
    return Period(period.start, today - timedelta(days=1)), Period(today, period.end)


def _tallied(period: Period, field: str) -> list[tuple[date, str, int]]:
    tally(period.start, period.end)
    return list(
        FigureDay.objects.filter(field=field, day__gte=period.start, day__lte=period.end).values_list(
            "day", "value", "count"
        )
    )


def _daily_live(period: Period) -> dict[date, int]:
    trunc = TruncDay("created_at", tzinfo=timezone.get_current_timezone())
    rows = cases_in(period).order_by().annotate(b=trunc).values("b").annotate(n=Count("id")).values_list("b", "n")
    found: dict[date, int] = {}
    for bucket, n in rows:
        key = _as_date(bucket)
        found[key] = found.get(key, 0) + n
    return found


def daily(period: Period) -> dict[date, int]:
    """Cases opened per day of the period (days without cases left out)."""
    done, live = _split(period)
    found: dict[date, int] = {}
    if done is not None:
        for day, _value, count in _tallied(done, "total"):
            if count:
                found[day] = found.get(day, 0) + count
    if live is not None:
        for day, count in _daily_live(live).items():
            found[day] = found.get(day, 0) + count
    return found


def series(period: Period, unit: str) -> dict[str, int]:
    """Cases opened per day, week or month: every bucket, zeros included."""
    keys = buckets(period, unit)
    found: dict[date, int] = dict.fromkeys(keys, 0)
    for day, count in daily(period).items():
        if unit == "day":
            bucket = day
        elif unit == "week":
            bucket = day - timedelta(days=day.weekday())
        else:
            bucket = day.replace(day=1)
        found[bucket] = found.get(bucket, 0) + count
    return {b.isoformat(): found.get(b, 0) for b in keys}


def _field_live(period: Period, name: str) -> list[tuple[str, int]]:
    return list(cases_in(period).order_by().values(name).annotate(n=Count("id")).values_list(name, "n"))


def breakdown(period: Period, name: str, *, from_cases: bool = False) -> dict[str, int]:
    """One table of the cases opened in the period, every known cell shown (zeros too); with
    ``from_cases``, counted from the cases alone (no tally)."""
    if name in TIME_BREAKDOWNS:
        return series(period, name)
    cells = FIELD_BREAKDOWNS[name]
    rows: list[tuple[str, int]] = []
    done: Period | None = None
    live: Period | None = period
    if name == "status" and not from_cases:
        # Kept as cases open and move (``cases.status_counts``): a status is what it is now.
        rows += list(status_counts.counts(period.start, period.end).items())
        live = None
    elif name in TALLIED_FIELDS and not from_cases:
        done, live = _split(period)
    if done is not None:
        rows += [(value, count) for _day, value, count in _tallied(done, name)]
    if live is not None:
        rows += _field_live(live, name)
    found: dict[str, int] = {}
    for key, n in rows:
        key = key or "unknown"
        key = key if key in cells else "other" if "other" in cells else "unknown"
        found[key] = found.get(key, 0) + n
    return {cell: found.get(cell, 0) for cell in cells}


def tally(start: date, end: date) -> int:
    """Tally the finished days from ``start`` to ``end`` that are not tallied yet (one GROUP BY per field
    over those days' cases); return how many days were added. Safe to run from several processes: a
    day is written whole, in one transaction, or not at all."""
    from django.db import IntegrityError, transaction

    end = min(end, timezone.localdate() - timedelta(days=1))
    if end < start:
        return 0
    have = set(FigureDay.objects.filter(field="total", day__gte=start, day__lte=end).values_list("day", flat=True))
    missing = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    missing = [d for d in missing if d not in have]
    if not missing:
        return 0
    span = Period(missing[0], missing[-1])
    wanted = set(missing)
    trunc = TruncDay("created_at", tzinfo=timezone.get_current_timezone())
    rows: list[FigureDay] = []
    totals = {day: 0 for day in missing}
    for day, n in _daily_live(span).items():
        if day in wanted:
            totals[day] = n
    rows += [FigureDay(day=day, field="total", value="", count=n) for day, n in totals.items()]
    for field in TALLIED_FIELDS:
        grouped = (
            cases_in(span)
            .order_by()
            .annotate(b=trunc)
            .values("b", field)
            .annotate(n=Count("id"))
            .values_list("b", field, "n")
        )
        for bucket, value, n in grouped:
            day = _as_date(bucket)
            if day in wanted:
                rows.append(FigureDay(day=day, field=field, value=str(value or "")[:32], count=n))
    try:
        with transaction.atomic():
            FigureDay.objects.bulk_create(rows, batch_size=2000)
    except IntegrityError:
        return 0  # another process tallied the same days first
    return len(missing)


def calls(period: Period) -> dict[str, int]:
    """Phone calls that started in the period, by outcome (answered, missed, voicemail, …)."""
    rows = (
        Call.objects.filter(started_at__gte=period.since, started_at__lt=period.until)
        .order_by()
        .values("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    found = {(k or "in_progress"): n for k, n in rows}
    return {k: found.get(k, 0) for k in (*CALL_OUTCOMES, "in_progress")}


def _delay_sql() -> str:
    case = Case._meta.db_table
    if connection.vendor == "postgresql":
        minutes = "FLOOR(EXTRACT(EPOCH FROM (c.first_answer_at - c.created_at)) / 60)"
    else:
        minutes = "CAST((julianday(c.first_answer_at) - julianday(c.created_at)) * 1440 AS INTEGER)"
    return (
        f"SELECT {minutes} AS m, COUNT(*) FROM {case} c "  # noqa: S608
        "WHERE c.created_at >= %s AND c.created_at < %s AND c.first_answer_at IS NOT NULL GROUP BY m"
    )


def _percentile(histogram: list[tuple[int, int]], fraction: float) -> int | None:
    total = sum(n for _m, n in histogram)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for minutes, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return max(0, minutes)
    return max(0, histogram[-1][0])


@dataclass(frozen=True)
class FirstAnswers:
    """Of the cases opened in a period: how many have had an answer, and the median and 90th
    percentile of the whole minutes from opening to our first message (None when none has)."""

    answered: int
    median_minutes: int | None
    p90_minutes: int | None


def first_answers(period: Period) -> FirstAnswers:
    """Time to the first answer for the cases opened in ``period``, read from a histogram of whole
    minutes grouped in the database (one row per distinct minute, never one per case). The figures
    page and the console's load page both read it from here."""
    since, until = period.since, period.until
    params: list[Any] = []
    if connection.vendor == "sqlite":
        # SQLite stores times as UTC text: compare as the ORM writes them.
        params += [_sqlite_time(since), _sqlite_time(until)]
    else:
        params += [since, until]
    with connection.cursor() as cursor:
        cursor.execute(_delay_sql(), params)
        histogram = [(int(m), int(n)) for m, n in cursor.fetchall()]
    return FirstAnswers(
        answered=sum(n for _m, n in histogram),
        median_minutes=_percentile(histogram, 0.5),
        p90_minutes=_percentile(histogram, 0.9),
    )


def queue_health(period: Period) -> dict[str, int | None]:
    """Minutes from a case's creation to our first outbound message (median, 90th percentile,
    :func:`first_answers`); and the cases waiting for an operator now."""
    times = first_answers(period)
    waiting = Case.objects.filter(status__in=[Status.NEW, Status.TRIAGE]).count()
    return {
        "answered": times.answered,
        "median_minutes": times.median_minutes,
        "p90_minutes": times.p90_minutes,
        "waiting_now": waiting,
    }


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def news(period: Period) -> dict[str, Any]:
    """Subscribers now per language, and the broadcasts started in the period with their reach."""
    reach = Broadcast.objects.filter(created_at__gte=period.since, created_at__lt=period.until).aggregate(
        broadcasts=Count("id"), sent=Sum("sent")
    )
    return {
        "subscribers": subscribers.counts(),
        "broadcasts": reach["broadcasts"] or 0,
        "reached": reach["sent"] or 0,
    }


def auto_answers(period: Period) -> dict[str, int]:
    """Questions the bot answered from the knowledge base, per day (a counter of numbers only)."""
    rows = AutoAnswerDay.objects.filter(day__gte=period.start, day__lte=period.end).values_list("day", "count")
    found = dict(rows)
    return {d.isoformat(): found.get(d, 0) for d in buckets(period, "day")}


def total(period: Period) -> int:
    return sum(daily(period).values())


def total_until(end: date) -> int:
    """Every case opened from the launch until the end of ``end``."""
    first = Case.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return 0
    start = timezone.localtime(first).date()
    return total(Period(start, end)) if start <= end else 0
