"""The FAQ page's link to the knowledge base (``hotline.kb``), which another part of the hotline owns.

The portal asks for two things, if the knowledge base is installed and offers them:

* ``hotline.kb.reading.published_articles(language)`` → published articles, in FAQ order, each with
  ``slug``, ``title`` and ``answer`` (attributes or keys);
* ``hotline.kb.search.search(query, language)`` → the best matches, the same shape.

Without them the FAQ page says it has nothing yet and shows no search box. Answers are shown as
plain text (escaped paragraphs), whatever they contain.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.utils.safestring import SafeString

from hotline.portal.markup import plain_paragraphs

log = logging.getLogger("hotline.portal")


@dataclass(frozen=True)
class Entry:
    slug: str
    title: str
    answer: SafeString


def _function(module: str, name: str) -> Callable[..., Any] | None:
    if not apps.is_installed("hotline.kb"):
        return None
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def _field(item: object, name: str) -> str:
    value = item.get(name, "") if isinstance(item, dict) else getattr(item, name, "")
    return str(value or "")


def _entries(items: Iterable[object]) -> list[Entry]:
    return [
        Entry(slug=_field(i, "slug"), title=_field(i, "title"), answer=plain_paragraphs(_field(i, "answer")))
        for i in items
        if _field(i, "title") and _field(i, "answer")
    ]


def published(language: str) -> list[Entry]:
    articles = _function("hotline.kb.reading", "published_articles")
    if articles is None:
        return []
    try:
        return _entries(articles(language))
    except Exception as exc:  # the FAQ page must render even if the knowledge base fails
        log.error("portal: the knowledge base did not list articles (%s)", type(exc).__name__)
        return []


def can_search() -> bool:
    return _function("hotline.kb.search", "search") is not None


def search(language: str, query: str) -> list[Entry] | None:
    """Matches for ``query``; None when there is no search to ask."""
    find = _function("hotline.kb.search", "search")
    if find is None:
        return None
    try:
        return _entries(find(query, language))
    except Exception as exc:
        log.error("portal: the knowledge-base search failed (%s)", type(exc).__name__)
        return []
