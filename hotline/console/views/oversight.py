"""Looking over the work: live load for supervisors, the audit log for admins (figures are in
``views/figures.py``). None of these pages shows case content."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from hotline.audit import log as audit
from hotline.audit.models import AuditEvent
from hotline.cases import targets
from hotline.cases.models import Case
from hotline.console import queue
from hotline.console.access import ADMINS, SEE_ALL, case_number, staff_view
from hotline.console.render import page, problem
from hotline.console.views.queue import me
from hotline.core.lifecycle import OPEN, Status
from hotline.core.metadata import PRIORITY_ORDER
from hotline.figures.compute import Period, first_answers
from hotline.inputs import INT64_MAX, parse_int

_OPEN = [s.value for s in OPEN]
WAITING_SAMPLE = 1000
SMALL_COUNT = 5  # figures below this are shown as "<5": small cells can point at a person
AUDIT_PAGE = 100
FIRST_ANSWER_DAYS = 7  # the load page's table of first answers: today and the six days before


@staff_view(SEE_ALL)
@require_safe
def load(request: HttpRequest) -> HttpResponse:
    """New cases per hour, how long applicants wait, and who holds how many open cases."""
    now = timezone.now()
    since = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    per_hour = dict(
        Case.objects.filter(created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    hours = [(since + timedelta(hours=i), per_hour.get(since + timedelta(hours=i), 0)) for i in range(24)]
    peak = max([n for _h, n in hours] + [1])
    by_status = dict(
        Case.objects.filter(status__in=_OPEN).values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    per_operator = list(
        Case.objects.filter(status__in=_OPEN, assignee__isnull=False)
        .values("assignee__username")
        .annotate(n=Count("id"))
        .order_by("-n", "assignee__username")
    )
    context = {
        "hours": [(h, n, round(100 * n / peak)) for h, n in hours],
        "by_status": [(s.value, by_status.get(s.value, 0)) for s in queue.OPEN_ORDER],
        "per_operator": per_operator,
        "unassigned": queue.count_of(me(request), "unassigned", queue.Filters()),
        "waits": _waits(request, now),
        "first_answer_days": first_answer_days(now),
        "targets": [(p.value, int(targets.target_for(p).total_seconds() // 60)) for p in reversed(PRIORITY_ORDER)],
        "poll_seconds": 30,
        "count_cap": queue.COUNT_CAP,
    }
    template = "console/_load_body.html" if request.headers.get("HX-Request") else "console/load.html"
    return page(request, template, context)


@dataclass(frozen=True)
class FirstAnswerDay:
    day: date
    answered: int
    median_minutes: int | None
    p90_minutes: int | None
    over_target: int  # answered later than the target, or still unanswered and past it at ``now``


def first_answer_days(now: datetime, days: int = FIRST_ANSWER_DAYS) -> list[FirstAnswerDay]:
    """For each of the last ``days`` days (server time zone, newest first), the cases opened that day:
    time to the first answer (:func:`hotline.figures.compute.first_answers`, the figures' own
    computation) and how many missed their priority's target (:mod:`hotline.cases.targets`)."""
    today = timezone.localtime(now).date()
    out = []
    for back in range(days):
        period = Period(today - timedelta(days=back), today - timedelta(days=back))
        times = first_answers(period)
        opened = {"created_at__gte": period.since, "created_at__lt": period.until}
        late = targets.answered_late().filter(**opened).count()
        waiting = targets.over_target(now).filter(**opened).count()
        out.append(
            FirstAnswerDay(period.start, times.answered, times.median_minutes, times.p90_minutes, late + waiting)
        )
    return out


def _waits(request: HttpRequest, now: datetime) -> dict[str, object]:
    """Waiting times of applicants who wrote and got no answer yet (the oldest :data:`WAITING_SAMPLE`)."""
    rows = [
        queue.Row(c)
        for c in Case.objects.filter(status__in=[Status.NEW, Status.TRIAGE]).order_by("created_at")[:WAITING_SAMPLE]
    ]
    queue.add_waiting(rows)
    minutes = sorted((now - r.waiting_since).total_seconds() / 60 for r in rows if r.waiting_since)
    if not minutes:
        return {"count": 0}
    return {
        "count": len(minutes),
        "median": round(statistics.median(minutes)),
        "longest": round(minutes[-1]),
        "over_hour": sum(1 for m in minutes if m > 60),
    }


@staff_view(ADMINS)
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    """Browse the audit log newest first (keyset on ``seq``), filtered by action, person or object."""
    events = AuditEvent.objects.order_by("-seq")
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    obj = request.GET.get("object", "").strip()
    before = request.GET.get("before", "").strip()
    if len(action) > 64 or len(actor) > 150 or len(obj) > 64:
        return problem(request, _("A filter value is too long."))
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label=actor)
    if obj:
        events = events.filter(object_id=_object_id(obj))
    if before:
        seq = parse_int(before, minimum=1, maximum=INT64_MAX)
        if seq is None:
            return problem(request, _("That page link is broken; start from the first page."))
        events = events.filter(seq__lt=seq)
    shown = list(events[: AUDIT_PAGE + 1])
    context = {
        "events": shown[:AUDIT_PAGE],
        "next_before": shown[AUDIT_PAGE - 1].seq if len(shown) > AUDIT_PAGE else None,
        "action": action,
        "actor": actor,
        "object": obj,
    }
    return page(request, "console/audit.html", context)


def _object_id(text: str) -> str:
    """An application number ("#1042" or "1042") is looked up as its case id."""
    number = case_number(text)
    if number is not None:
        case = Case.objects.filter(number__id=number).only("id").first()
        if case is not None:
            return str(case.pk)
    return text


@staff_view(ADMINS)
@require_safe
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Walk the whole hash chain now and say whether it is intact, and where not."""
    result = audit.verify()
    template = "console/_audit_verify.html" if request.headers.get("HX-Request") else "console/audit_verify.html"
    return page(request, template, {"result": result, "breaks": [str(b) for b in result.breaks[:50]]})
