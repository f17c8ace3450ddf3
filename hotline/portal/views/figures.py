"""The public "Figures" page: published (approved) releases only, newest first, each with its text,
the spokesperson's summary, charts and tables from its frozen numbers; CSV and JSON per release and
an Atom feed. Drafts are never reachable here (an unapproved id is a 404 like any unknown one)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from hotline.figures import publish, releases, texts
from hotline.figures.models import Release
from hotline.portal.content import Mode
from hotline.portal.views.common import render, speaks

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Figures",
        "intro": "What the hotline publishes about its work. Every number is rounded to a multiple of 5, "
        "so that no figure, and no difference between figures, can point at a person.",
        "none": "Nothing has been published yet.",
        "summary": "In short",
        "total": "Total",
        "downloads": "Download",
        "feed": "Feed (Atom)",
        "corrected": "This is a correction of an earlier version.",
        "superseded": "A corrected version of these figures has been published:",
        "published": "Published",
        "count": "Count",
    },
    "ru": {
        "title": "Цифры",
        "intro": "Что горячая линия публикует о своей работе. Каждое число округлено до кратного 5, чтобы "
        "ни одно число и ни одна разность чисел не указывали на человека.",
        "none": "Пока ничего не опубликовано.",
        "summary": "Коротко",
        "total": "Всего",
        "downloads": "Скачать",
        "feed": "Лента (Atom)",
        "corrected": "Это исправление более ранней версии.",
        "superseded": "Опубликована исправленная версия этих цифр:",
        "published": "Опубликовано",
        "count": "Число",
    },
    "uk": {
        "title": "Цифри",
        "intro": "Що гаряча лінія публікує про свою роботу. Кожне число округлено до кратного 5, щоб жодне "
        "число і жодна різниця чисел не вказували на людину.",
        "none": "Поки нічого не опубліковано.",
        "summary": "Коротко",
        "total": "Усього",
        "downloads": "Завантажити",
        "feed": "Стрічка (Atom)",
        "corrected": "Це виправлення попередньої версії.",
        "superseded": "Опубліковано виправлену версію цих цифр:",
        "published": "Опубліковано",
        "count": "Кількість",
    },
}


def shown_in(language: str) -> str:
    """The language the figures' labels are shown in: the page's, or English where the figures have
    no labels in it (a language added as files only; docs/languages.md)."""
    return language if language in WORDS and language in texts.LANGUAGES else "en"


def links(mode: Mode, language: str, release: Release) -> dict[str, str]:
    if mode == "export":
        base = f"figures-{release.pk}"
        return {"page": f"{base}.html", "csv": f"{base}.csv", "json": f"{base}.json"}
    return {
        "page": reverse("portal:figures-release", args=[language, release.pk]),
        "csv": reverse("portal:figures-csv", args=[language, release.pk]),
        "json": reverse("portal:figures-json", args=[language, release.pk]),
    }


def feed_link(mode: Mode, language: str) -> str:
    return "figures.atom" if mode == "export" else reverse("portal:figures-feed", args=[language])


def release_context(release: Release, language: str, mode: Mode, *, with_charts: bool = True) -> dict[str, Any]:
    newer = releases.superseded_by(release)
    shown = shown_in(language)
    return {
        "release": release,
        "title": publish.title(release, shown),
        "text": release.texts.get(language) or release.texts.get(shown, ""),
        "summary": texts.summary(release, shown),
        "tables": publish.tables(release, shown, with_charts=with_charts),
        "total": texts.number(int(release.published["total"]), shown),
        "links": links(mode, language, release),
        "newer": {"title": publish.title(newer, shown), "url": links(mode, language, newer)["page"]} if newer else None,
    }


def list_context(language: str, mode: Mode) -> dict[str, Any]:
    return {
        "words": WORDS[shown_in(language)],
        "releases": [release_context(r, language, mode) for r in releases.public_releases()],
        "feed": feed_link(mode, language),
    }


@require_safe
@speaks
def figures(request: HttpRequest, lang: str) -> HttpResponse:
    return render(request, lang, "portal/figures.html", "figures", list_context(lang, "live"))


def _release(release_id: int) -> Release:
    release = releases.public_release(release_id)
    if release is None:
        raise Http404("no such release")
    return release


@require_safe
@speaks
def figures_release(request: HttpRequest, lang: str, release_id: int) -> HttpResponse:
    context = {
        "words": WORDS[shown_in(lang)],
        "feed": feed_link("live", lang),
        **release_context(_release(release_id), lang, "live"),
    }
    return render(request, lang, "portal/figures_release.html", "figures", context)


@require_safe
def figures_csv(request: HttpRequest, lang: str, release_id: int) -> HttpResponse:
    release = _release(release_id)
    response = HttpResponse(publish.as_csv(release, shown_in(lang)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="hotline-figures-{release.pk}-{lang}.csv"'
    return response


@require_safe
def figures_json(request: HttpRequest, lang: str, release_id: int) -> HttpResponse:
    release = _release(release_id)
    response = HttpResponse(publish.as_json(release), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="hotline-figures-{release.pk}.json"'
    return response


@require_safe
def figures_feed(request: HttpRequest, lang: str) -> HttpResponse:
    body = publish.atom(
        releases.public_releases(),
        shown_in(lang),
        self_href=feed_link("live", lang),
        link_of=lambda r: links("live", lang, r)["page"],
    )
    return HttpResponse(body, content_type="application/atom+xml; charset=utf-8")
