"""The portal's page texts: files per language, rendered with ``markup``, overridable.

A page's text comes from the first of these that has it:

1. a registered source — a function ``(language, slug) -> str | None``; ``hotline.pagetexts`` (the
   console's versioned page editor) registers one with :func:`register_source`;
2. ``$HOTLINE_PORTAL_CONTENT_DIR/<language>/<slug>.md``, when that setting is given;
3. the file shipped with the hotline, ``hotline/portal/content/<language>/<slug>.md``.

The languages are those the hotline declares (``hotline/languages.py``): a new one needs its
directory of pages, and nothing here changes.

Links in the texts name pages (``page:safety``), never URLs, so the same text renders for the live
site (``/ru/safety/``) and for the static mirror (``safety.html``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Literal

from django.urls import reverse

from hotline import languages
from hotline.portal import markup

log = logging.getLogger("hotline.portal")

SHIPPED = languages.PORTAL_SHIPPED

# Pages made of text alone, in the order the navigation shows them (with faq and contacts between).
TEXT_PAGES: tuple[str, ...] = ("home", "guarantees", "how-to-apply", "after-surrender", "safety")
NAVIGATION: tuple[str, ...] = ("home", "guarantees", "how-to-apply", "after-surrender", "faq", "contacts", "safety")
# Pages with text and something more (a form, the contacts manifest, the FAQ list): their text is the intro.
INTRO_PAGES: tuple[str, ...] = ("faq", "contacts", "apply", "receipt")
PAGES: tuple[str, ...] = TEXT_PAGES + INTRO_PAGES

Mode = Literal["live", "export"]
Source = Callable[[str, str], str | None]
_sources: list[Source] = []


class ContentError(Exception):
    pass


def register_source(source: Source) -> None:
    """Let another app (the console's page editor) supply page texts ahead of the files."""
    if source not in _sources:
        _sources.append(source)


def unregister_source(source: Source) -> None:
    if source in _sources:
        _sources.remove(source)


def page_text(language: str, slug: str) -> str:
    if language not in languages.codes() or slug not in PAGES:
        raise ContentError(f"no page {slug!r} in {language!r}")
    for source in _sources:
        text = source(language, slug)
        if text is not None:
            return text
    return file_text(language, slug)


def file_text(language: str, slug: str) -> str:
    """The text from the files alone (the deployment's directory, else the shipped file): what a page
    says when no registered source has a text for it, and what the editor's "shipped text" restores."""
    if language not in languages.codes() or slug not in PAGES:
        raise ContentError(f"no page {slug!r} in {language!r}")
    return languages.portal_page_path(language, slug).read_text(encoding="utf-8")


def link(mode: Mode, language: str, slug: str, anchor: str = "") -> str:
    """Where a page is: an absolute path on the live site (never with a host), a relative file name
    in the static mirror (where the form and the mailbox are one page about the live channels)."""
    suffix = f"#{anchor}" if anchor else ""
    if mode == "export":
        name = {"home": "index", "receipt": "apply"}.get(slug, slug)
        return f"{name}.html{suffix}"
    if slug == "home":
        return reverse("portal:home", args=[language]) + suffix
    if slug == "figures":
        return reverse("portal:figures", args=[language]) + suffix
    if slug in ("faq", "contacts", "apply", "receipt"):
        return reverse(f"portal:{slug}", args=[language]) + suffix
    return reverse("portal:page", args=[language, slug]) + suffix


@functools.lru_cache(maxsize=256)
def _rendered(text: str, mode: Mode, language: str) -> markup.Document:
    return markup.render(text, PAGES, lambda slug, anchor: link(mode, language, slug, anchor))


def render_text(language: str, text: str, mode: Mode = "live") -> markup.Document:
    """``text`` as a page in ``language`` would show it (the editor's check and preview; not cached).
    :class:`markup.MarkupError` for text the format refuses."""
    return markup.render(text, PAGES, lambda slug, anchor: link(mode, language, slug, anchor))


def page(language: str, slug: str, mode: Mode = "live") -> markup.Document:
    """A page's title and safe HTML body. :class:`markup.MarkupError` for file text the format refuses.

    An edited text was checked when it was saved, but a later release may have removed a page it
    links to: then the page shows its file text (and the log says so) rather than failing.
    """
    text = page_text(language, slug)
    try:
        return _rendered(text, mode, language)
    except markup.MarkupError as exc:
        fallback = file_text(language, slug)
        if text == fallback:
            raise
        log.error("portal: the edited text of %s/%s no longer renders (%s); showing the file", language, slug, exc)
        return _rendered(fallback, mode, language)
