"""The console's front door and the queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from hotline.accounts.models import User
from hotline.cases import targets
from hotline.console import queue
from hotline.console.access import (
    ANY_STAFF,
    CASEWORKERS,
    access_case_by_number,
    case_number,
    signed_in_user,
    staff_view,
)
from hotline.console.labels import compact_age, label
from hotline.console.render import flash, page, problem
from hotline.core.lifecycle import Role
from hotline.core.metadata import Category, ChannelKind, Priority

POLL_SECONDS = 15


@dataclass(frozen=True)
class RowView:
    """One queue row, already in words: the table is the hottest template, so it only prints."""

    case_id: str
    url: str
    number: object
    priority: str
    priority_label: str
    status: str
    waiting: str  # "waiting 2 h 10 min", or "answered" (with the applicant's new message, if any)
    waiting_title: str
    answered: bool
    over_target: bool  # not answered yet and past its priority's first-answer target
    target: str  # the target, for the mark's tooltip
    age: str
    age_title: str
    channel: str
    language: str
    category: str
    region: str
    people: int
    assignee: str
    tags: list[str]


def _waiting(row: queue.Row, now: datetime) -> str:
    if not row.answered:
        return _("waiting %(age)s") % {"age": compact_age(row.case.created_at, now)}
    if row.waiting_since is not None:
        return _("answered; wrote again %(age)s ago") % {"age": compact_age(row.waiting_since, now)}
    return _("answered")


def present(rows: list[queue.Row], now: datetime) -> list[RowView]:
    prefix = reverse("console:case", args=[uuid.UUID(int=0)]).removesuffix(f"{uuid.UUID(int=0)}/")
    out = []
    for row in rows:
        case = row.case
        number = getattr(getattr(case, "number", None), "id", "—")
        out.append(
            RowView(
                case_id=str(case.pk),
                url=f"{prefix}{case.pk}/",
                number=number,
                priority=case.priority,
                priority_label=label(case.priority),
                status=label(case.status),
                waiting=_waiting(row, now),
                waiting_title=row.waiting_since.strftime("%Y-%m-%d %H:%M") if row.waiting_since else "",
                answered=row.answered,
                over_target=not row.answered and targets.is_over(case.priority, case.created_at, now),
                target=_("first answer within %(minutes)s min")
                % {"minutes": int(targets.target_for(case.priority).total_seconds() // 60)},
                age=compact_age(case.created_at, now),
                age_title=case.created_at.strftime("%Y-%m-%d %H:%M"),
                channel=label(case.channel),
                language=case.language or "—",
                category=label(case.category),
                region=label(case.region),
                people=case.group_size,
                assignee=case.assignee.username if case.assignee else "—",
                tags=row.tags,
            )
        )
    return out


def me(request: HttpRequest) -> User:
    user = signed_in_user(request)
    assert user is not None  # staff_view let the request through
    return user


@staff_view(ANY_STAFF)
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Each role starts where its work is."""
    role = me(request).staff_role
    if role == Role.COORDINATOR:
        return HttpResponseRedirect(reverse("console:handoff"))
    if role == Role.ANALYST:
        return HttpResponseRedirect(reverse("console:figures"))
    return HttpResponseRedirect(reverse("console:queue"))


def _tab(request: HttpRequest, user: User) -> queue.Tab:
    value = request.GET.get("tab") or queue.default_tab(user)
    for tab, _label in queue.TABS:
        if tab == value:
            return tab
    raise queue.BadQuery(_("There is no such queue tab."))


def _queue_context(request: HttpRequest) -> dict[str, object]:
    user = me(request)
    tab = _tab(request, user)
    filters = queue.Filters.parse(request.GET)
    cursor_text = request.GET.get("after", "")
    cursor = queue.Cursor.decode(cursor_text) if cursor_text else None
    counts = queue.counts(user, filters)
    result = queue.page_of(user, tab, filters, cursor)
    return {
        "tab": tab,
        "tabs": [(name, label, counts[name]) for name, label in queue.TABS],
        "count_cap": queue.COUNT_CAP,
        "filters": filters,
        "filter_query": filters.as_query(),
        "rows": present(result.rows, timezone.now()),
        "next_cursor": result.next_cursor,
        "first_page": cursor is None,
        "poll_seconds": POLL_SECONDS,
        "channels": [c.value for c in ChannelKind],
        "categories": [c.value for c in Category],
        "priorities": [p.value for p in Priority],
    }


@staff_view(CASEWORKERS)
@require_safe
def queue_page(request: HttpRequest) -> HttpResponse:
    try:
        context = _queue_context(request)
    except queue.BadQuery as exc:
        return problem(request, str(exc))
    return page(request, "console/queue.html", context)


@staff_view(CASEWORKERS)
@require_safe
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The tab counts and the table, for the page's periodic refresh (htmx)."""
    try:
        context = _queue_context(request)
    except queue.BadQuery as exc:
        return problem(request, str(exc))
    return page(request, "console/_queue_body.html", context)


@staff_view(CASEWORKERS)
@require_safe
def next_case(request: HttpRequest) -> HttpResponse:
    """Open the case at the top of the current tab (keyboard: n)."""
    user = me(request)
    try:
        tab = _tab(request, user)
        filters = queue.Filters.parse(request.GET)
    except queue.BadQuery as exc:
        return problem(request, str(exc))
    case = queue.first_case(user, tab, filters)
    if case is None:
        flash(request, _("Nothing is waiting in this tab."))
        return HttpResponseRedirect(reverse("console:queue") + f"?tab={tab}")
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]))


@staff_view(CASEWORKERS)
@require_safe
def goto(request: HttpRequest) -> HttpResponse:
    """Open a case by its application number (the number staff say aloud: "application 1042")."""
    number = case_number(request.GET.get("number", ""))
    if number is None:
        return problem(request, _("An application number is digits only, like 1042."))
    case = access_case_by_number(me(request), number)
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]))
