"""What an article says, and the article files the starter content ships in. Pure Python, no Django.

An article file (``kb/articles/<slug>.yaml``) holds one article in every language::

    slug: mobilization-notice
    position: 10            # order on the FAQ page
    published: true         # only when the article is first loaded; afterwards admins decide
    ru:
      title: Мне пришла повестка
      questions:
        - Что делать, если пришла повестка?
      answer: |
        …

The same rules apply whether text comes from a file or from the console editor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.utils.translation import gettext as _

LANGUAGES: tuple[str, ...] = ("ru", "uk", "en")
# An answer must fit one Telegram message (4096 characters) with its title and a line of markup.
MAX_ANSWER = 3500
MAX_TITLE = 200
MAX_QUESTION = 300
MAX_QUESTIONS = 40
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 64


class ContentError(ValueError):
    """Article text that breaks a rule, with a message fit to show the admin who wrote it."""


@dataclass(frozen=True)
class ArticleContent:
    """One language of an article: the title, the ways people ask, and the answer."""

    title: str
    questions: tuple[str, ...]
    answer: str

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "questions": list(self.questions), "answer": self.answer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArticleContent:
        questions = data.get("questions") or ()
        if isinstance(questions, str) or not all(isinstance(q, str) for q in questions):
            raise ContentError(_("questions are a list of strings"))
        return cls(
            title=str(data.get("title") or "").strip(),
            questions=tuple(q.strip() for q in questions if q.strip()),
            answer=str(data.get("answer") or "").strip(),
        )


@dataclass(frozen=True)
class ArticleFile:
    slug: str
    position: int
    published: bool
    texts: dict[str, ArticleContent] = field(default_factory=dict)


def check_slug(slug: str) -> str:
    if not (SLUG.match(slug) and len(slug) <= MAX_SLUG):
        raise ContentError(
            _("a slug is lower-case words joined by hyphens, at most %(n)s characters") % {"n": MAX_SLUG}
        )
    return slug


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ContentError(
            _("language must be one of %(languages)s, not %(language)r")
            % {"languages": ", ".join(LANGUAGES), "language": language[:10]}
        )
    return language


def check_content(language: str, content: ArticleContent) -> ArticleContent:
    """Refuse text the bot could not send or the search could not use."""
    problem = _problem(content)
    if problem:
        raise ContentError(f"{language}: {problem}")
    return content


def _problem(content: ArticleContent) -> str:
    """What is wrong with one language's text, in the reader's language; empty if nothing."""
    if not content.title:
        return _("the title is empty")
    if len(content.title) > MAX_TITLE:
        return _("the title is longer than %(n)s characters") % {"n": MAX_TITLE}
    if not content.questions:
        return _("at least one question is needed, or the search cannot find the article")
    if len(content.questions) > MAX_QUESTIONS:
        return _("at most %(n)s questions") % {"n": MAX_QUESTIONS}
    if any(len(q) > MAX_QUESTION for q in content.questions):
        return _("a question is longer than %(n)s characters") % {"n": MAX_QUESTION}
    if len(set(content.questions)) != len(content.questions):
        return _("a question is listed twice")
    if not content.answer:
        return _("the answer is empty")
    if len(content.answer) > MAX_ANSWER:
        return _("the answer is %(length)s characters; the limit is %(n)s") % {
            "length": len(content.answer),
            "n": MAX_ANSWER,
        }
    return ""


def parse_article(data: Any, *, source: str = "article") -> ArticleFile:
    """An article file's parsed YAML, checked. Every language must be present in a shipped file."""
    if not isinstance(data, dict):
        raise ContentError(f"{source}: expected a mapping at the top")
    try:
        slug = check_slug(str(data.get("slug", "")))
        position = int(data.get("position", 0))
        published = bool(data.get("published", True))
        texts: dict[str, ArticleContent] = {}
        for language in LANGUAGES:
            raw = data.get(language)
            if not isinstance(raw, dict):
                raise ContentError(f"{language}: missing")
            texts[language] = check_content(language, ArticleContent.from_dict(raw))
    except (ContentError, TypeError, ValueError) as exc:
        raise ContentError(f"{source}: {exc}") from exc
    unknown = set(data) - {"slug", "position", "published", *LANGUAGES}
    if unknown:
        raise ContentError(f"{source}: unknown keys {sorted(unknown)}")
    return ArticleFile(slug=slug, position=position, published=published, texts=texts)


def read_article_file(path: Path) -> ArticleFile:
    with path.open(encoding="utf-8") as fh:
        article = parse_article(yaml.safe_load(fh), source=path.name)
    if article.slug != path.stem:
        raise ContentError(f"{path.name}: the slug {article.slug!r} differs from the file name")
    return article


def read_directory(directory: Path) -> list[ArticleFile]:
    """Every ``*.yaml`` article in ``directory``, sorted by position then slug."""
    if not directory.is_dir():
        raise ContentError(f"{directory}: no such directory")
    articles = [read_article_file(p) for p in sorted(directory.glob("*.yaml"))]
    return sorted(articles, key=lambda a: (a.position, a.slug))
