"""Figures for analysts, supervisors and admins, and the releases a spokesperson may publish.

The dashboard shows raw counts (internal: they never leave the console). A release's page shows
only its frozen, rounded numbers — exactly what the public page will show once it is approved.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hotline.accounts.staff import actor_of
from hotline.console.access import FIGURES, SEE_ALL, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.figures import charts, compute, publish, releases, texts
from hotline.figures.models import Release
from hotline.inputs import parse_int

PRESETS = (7, 30, 90, 365)
MAX_DASHBOARD_DAYS = 5 * 366
BREAKDOWN_LABELS = {
    "channel": gettext_lazy("By channel"),
    "category": gettext_lazy("By category"),
    "region": gettext_lazy("By region"),
    "status": gettext_lazy("By status"),
    "language": gettext_lazy("By language"),
    "month": gettext_lazy("By month"),
    "week": gettext_lazy("By week"),
}


def _language() -> str:
    return "uk" if (get_language() or "en").startswith("uk") else "en"


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _chart(labels: list[str], values: list[int], title: str, *, line: bool = False) -> str:
    return charts.bar_chart(labels, values, title=title, line=line) if labels else ""


def _block(
    title: str, rows: dict[str, int], *, line: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    shown = [((labels or {}).get(k, k), n) for k, n in rows.items()]
    return {
        "title": title,
        "rows": shown,
        "chart": _chart([k for k, _n in shown], [n for _k, n in shown], title, line=line),
    }


@staff_view(FIGURES)
@require_safe
def figures(request: HttpRequest) -> HttpResponse:
    """Raw counts over a period (internal), each with its chart and table."""
    today = timezone.localdate()
    start_text, end_text = request.GET.get("start", ""), request.GET.get("end", "")
    if start_text or end_text:
        start, end = _parse_date(start_text), _parse_date(end_text)
        if start is None or end is None:
            return problem(request, _("Dates are written as YYYY-MM-DD."))
        days = 0
    else:
        days = parse_int(request.GET.get("days", "30"), minimum=1, maximum=365) or 0
        if days not in PRESETS:
            return problem(request, _("Choose a period of 7, 30, 90 or 365 days."))
        start, end = today - timedelta(days=days - 1), today
    if end < start:
        return problem(request, _("The period ends before it starts."))
    if (end - start).days + 1 > MAX_DASHBOARD_DAYS or start < releases.FIRST_DAY or end > today + timedelta(days=1):
        return problem(request, _("Choose a period within the hotline's lifetime, at most five years long."))
    unit = request.GET.get("unit", "day")
    if unit not in compute.UNITS:
        return problem(request, _("Choose days, weeks or months."))
    period = compute.Period(start, end)
    language = _language()
    cells = {key: words.get(language, key) for key, words in texts.CELLS.items()}
    calls = compute.calls(period)
    news = compute.news(period)
    call_labels = {
        "answered": _("answered"),
        "missed": _("missed"),
        "voicemail": _("voicemail"),
        "callback": _("callback asked"),
        "informed": _("menu only"),
        "in_progress": _("in progress"),
    }
    blocks = [
        _block(_("Cases opened per %(unit)s") % {"unit": _unit_word(unit)}, compute.series(period, unit), line=True),
        _block(_("By channel"), compute.breakdown(period, "channel"), labels=cells),
        _block(_("Phone calls by outcome"), calls, labels=call_labels),
        _block(_("By category"), compute.breakdown(period, "category"), labels=cells),
        _block(_("By region"), compute.breakdown(period, "region"), labels=cells),
        _block(_("By status"), compute.breakdown(period, "status"), labels=cells),
        _block(_("By language"), compute.breakdown(period, "language"), labels=cells),
        _block(_("News subscribers now, by language"), news["subscribers"], labels=cells),
        _block(_("Questions the bot answered from the knowledge base"), compute.auto_answers(period), line=True),
    ]
    context = {
        "days": days,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "unit": unit,
        "total": compute.total(period),
        "health": compute.queue_health(period),
        "news": news,
        "blocks": blocks,
        "presets": PRESETS,
    }
    return page(request, "console/figures.html", context)


def _unit_word(unit: str) -> str:
    return {"day": _("day"), "week": _("week"), "month": _("month")}[unit]


@staff_view(FIGURES)
@require_safe
def release_list(request: HttpRequest) -> HttpResponse:
    rows = Release.objects.select_related("prepared_by", "approved_by").order_by("-pk")[:200]
    return page(request, "console/releases.html", {"releases": rows})


def _form_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    start, end = releases.default_period()
    return {
        "breakdowns": [(name, str(BREAKDOWN_LABELS[name])) for name in compute.BREAKDOWNS],
        "chosen": list(compute.FIELD_BREAKDOWNS),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "texts": {},
        "corrects": None,
        **extra,
    }


@staff_view(FIGURES)
@require_http_methods(["GET", "HEAD", "POST"])
def release_new(request: HttpRequest) -> HttpResponse:
    """The prepare form (GET) and preparing a draft (POST): counts rounded and frozen at once."""
    corrects: Release | None = None
    corrects_text = request.POST.get("corrects", "") or request.GET.get("corrects", "")
    if corrects_text:
        corrects_id = parse_int(corrects_text, minimum=1, maximum=2**62)
        corrects = releases.public_release(corrects_id) if corrects_id else None
        if corrects is None:
            return problem(request, _("Only a published release can be corrected."), status=404)
    if request.method != "POST":
        extra: dict[str, Any] = {"corrects": corrects}
        if corrects is not None:
            extra.update(
                start=corrects.period_start.isoformat(),
                end=corrects.period_end.isoformat(),
                chosen=list(corrects.breakdowns),
                texts=corrects.texts,
            )
        return page(request, "console/release_new.html", _form_context(request, **extra))
    start, end = _parse_date(request.POST.get("start", "")), _parse_date(request.POST.get("end", ""))
    if start is None or end is None:
        return problem(request, _("Dates are written as YYYY-MM-DD."))
    chosen = request.POST.getlist("breakdown")
    if len(chosen) > len(compute.BREAKDOWNS) * 2 or any(len(b) > 32 for b in chosen):
        return problem(request, _("Too many breakdowns."))
    texts_given = {lang: request.POST.get(f"text_{lang}", "") for lang in releases.TEXT_LANGUAGES}
    wanted = releases.Request(start, end, tuple(chosen), texts_given)
    try:
        release = releases.do_prepare(actor_of(me(request)), me(request), wanted, corrects=corrects)
    except releases.ReleaseError as exc:
        return problem(request, str(exc))
    flash(request, _("The release is prepared. Someone else approves it."))
    return HttpResponseRedirect(reverse("console:figures_release", args=[release.pk]))


def _release(request: HttpRequest, release_id: int) -> Release | None:
    return Release.objects.select_related("prepared_by", "approved_by").filter(pk=release_id).first()


@staff_view(FIGURES)
@require_safe
def release_page(request: HttpRequest, release_id: int) -> HttpResponse:
    """What the public page will show, from the frozen numbers (and the approve button)."""
    release = _release(request, release_id)
    if release is None:
        return problem(request, _("There is no such release."), status=404)
    user = me(request)
    previews = {
        lang: {
            "summary": texts.summary(release, lang),
            "text": release.texts.get(lang, ""),
        }
        for lang in texts.LANGUAGES
    }
    context = {
        "release": release,
        "tables": publish.tables(release, "en"),
        "previews": previews,
        "title": publish.title(release, "en"),
        "can_approve": release.state == Release.State.DRAFT
        and user.staff_role in releases.APPROVERS
        and release.prepared_by_id != user.pk,
        "is_draft": release.state == Release.State.DRAFT,
        "newer": releases.superseded_by(release),
    }
    return page(request, "console/release.html", context)


@staff_view(SEE_ALL)
@require_POST
def release_approve(request: HttpRequest, release_id: int) -> HttpResponse:
    try:
        releases.do_approve(actor_of(me(request)), me(request), release_id)
    except releases.ReleaseError as exc:
        return problem(request, str(exc), status=409 if "already" in str(exc) else 400)
    flash(request, _("The release is published."))
    return HttpResponseRedirect(reverse("console:figures_release", args=[release_id]))


@staff_view(FIGURES)
@require_POST
def release_discard(request: HttpRequest, release_id: int) -> HttpResponse:
    try:
        releases.do_discard(actor_of(me(request)), me(request), release_id)
    except releases.ReleaseError as exc:
        return problem(request, str(exc), status=409)
    flash(request, _("The draft is discarded."))
    return HttpResponseRedirect(reverse("console:figures_releases"))
