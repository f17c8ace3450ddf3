"""Answering free text from the knowledge base: the API the Telegram bot and the portal call.

    answer("мне пришла повестка, что делать", "ru")  -> Match | None
    search("повестка", "ru", limit=5)                  -> list[Match]

``Match.confident`` tells the bot whether to answer with the article on its own (always with a
button to reach a person) or to pass the message to operators. A question written in another
language than the one chosen is understood too (``engine.Index.lookup``).

The index lives in memory, one per process, built from published articles. Every process checks at
most every ``HOTLINE_KB_REFRESH_SECONDS`` whether any article changed (one small aggregate query on
``Article.revision``) and rebuilds if so; a change made in this process is seen at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Sum

from hotline.kb.content import LANGUAGES
from hotline.kb.engine import Entry, Index, Match
from hotline.kb.models import Article, ArticleText

__all__ = ["Match", "answer", "current_index", "invalidate", "normalise_language", "search"]

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class _Cached:
    index: Index
    stamp: tuple[int, int]
    checked_at: float


_lock = threading.Lock()
_cached: _Cached | None = None


def invalidate() -> None:
    """Make the next question check the database for changed articles (actions call it on commit)."""
    global _cached
    with _lock:
        if _cached is not None:
            _cached = replace(_cached, checked_at=float("-inf"))


def _stamp() -> tuple[int, int]:
    row = Article.objects.aggregate(n=Count("id"), revisions=Sum("revision"))
    return int(row["n"] or 0), int(row["revisions"] or 0)


def _build() -> Index:
    entries: dict[str, list[Entry]] = {lang: [] for lang in LANGUAGES}
    texts = ArticleText.objects.filter(article__published=True).select_related("article")
    for t in texts.order_by("article__position", "article__slug"):
        if t.language in entries:
            entries[t.language].append(Entry(t.article.slug, t.title, tuple(t.questions), t.answer))
    return Index(entries)


def current_index() -> Index:
    """This process's index, rebuilt if an article changed since it was built."""
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached.checked_at < settings.HOTLINE_KB_REFRESH_SECONDS:
        return cached.index
    with _lock:
        stamp = _stamp()
        if _cached is None or _cached.stamp != stamp:
            _cached = _Cached(index=_build(), stamp=stamp, checked_at=time.monotonic())
        else:
            _cached = replace(_cached, checked_at=time.monotonic())
        return _cached.index


def warm_up() -> None:
    """Build the index and load the morphology dictionaries now (about half a second), so that the
    first question a process answers does not pay for it inside a write transaction.

    Called when a web process or a worker starts; a database not set up yet is not an error (the first
    question builds the index then)."""
    try:
        index = current_index()
    except DatabaseError as exc:
        logging.getLogger("hotline.kb").info("knowledge base not preloaded (%s)", type(exc).__name__)
        return
    for language in LANGUAGES:
        index.lookup("warm up", language, 1)


def normalise_language(language: str) -> str:
    """``ru``, ``uk`` or ``en`` from a code such as ``uk-UA``; ValueError for anything else."""
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if code == "ua":
        code = "uk"
    if code not in LANGUAGES:
        raise ValueError(f"the knowledge base speaks {', '.join(LANGUAGES)}, not {language[:10]!r}")
    return code


def search(query: str, language: str, limit: int = 5) -> list[Match]:
    """Published articles for ``query``, best first (the portal's search box)."""
    lang = normalise_language(language)
    return current_index().lookup(query[:MAX_QUESTION_CHARS], lang, max(1, min(limit, 50)))


def answer(question: str, language: str) -> Match | None:
    """The best published article for ``question``, or None when nothing matches at all.

    Answer with it only when ``confident``; otherwise pass the question to an operator.
    """
    found = current_index().lookup(question[:MAX_QUESTION_CHARS], normalise_language(language), 2)
    return found[0] if found else None
