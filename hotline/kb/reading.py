"""Reading articles: the FAQ page, the console's editor and canned replies, the version history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotline.kb.models import Article, ArticleText, ArticleVersion


@dataclass(frozen=True)
class ArticleView:
    slug: str
    language: str
    title: str
    questions: tuple[str, ...]
    answer: str
    published: bool
    position: int
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class VersionView:
    number: int
    author_label: str
    author_id: int | None
    created_at: datetime
    changes: tuple[str, ...]
    note: str
    # {"position": int, "texts": {language: {"title", "questions", "answer"}}}: the whole article then.
    content: Mapping[str, Any] = field(default_factory=dict)


def _view(text: ArticleText) -> ArticleView:
    a = text.article
    return ArticleView(
        slug=a.slug,
        language=text.language,
        title=text.title,
        questions=tuple(text.questions),
        answer=text.answer,
        published=a.published,
        position=a.position,
        version=a.version,
        updated_at=a.updated_at,
    )


def published_articles(language: str) -> list[ArticleView]:
    """Published articles that have text in ``language``, in FAQ order."""
    texts = ArticleText.objects.filter(language=language, article__published=True).select_related("article")
    return [_view(t) for t in texts.order_by("article__position", "article__slug")]


def get_article(slug: str, language: str, *, include_unpublished: bool = False) -> ArticleView | None:
    """One article in one language (a canned reply, a FAQ entry), or None.

    Unpublished articles are only for the console: the portal and the bot never pass
    ``include_unpublished``.
    """
    texts = ArticleText.objects.filter(article__slug=slug, language=language).select_related("article")
    if not include_unpublished:
        texts = texts.filter(article__published=True)
    text = texts.first()
    return _view(text) if text is not None else None


def all_articles() -> list[Article]:
    """Every article, published or not, for the console's list."""
    return list(Article.objects.all())


@dataclass(frozen=True)
class ArticleSummary:
    slug: str
    published: bool
    position: int
    version: int
    updated_at: datetime
    titles: dict[str, str]  # language -> title, for the languages the article has


def article_summaries() -> list[ArticleSummary]:
    """Every article with its title in each language, in FAQ order (the console's list)."""
    return [
        ArticleSummary(
            slug=a.slug,
            published=a.published,
            position=a.position,
            version=a.version,
            updated_at=a.updated_at,
            titles={t.language: t.title for t in a.texts.all()},
        )
        for a in Article.objects.prefetch_related("texts")
    ]


def reply_articles(language: str) -> list[tuple[str, str]]:
    """(slug, title) of the published articles in ``language``, in FAQ order: an operator can start
    a reply from any of them, as from a canned reply (the answer itself is fetched when chosen)."""
    texts = ArticleText.objects.filter(language=language, article__published=True)
    return list(texts.order_by("article__position", "article__slug").values_list("article__slug", "title"))


def article_history(slug: str) -> list[VersionView]:
    """Who changed what and when, newest first."""
    versions = ArticleVersion.objects.filter(article__slug=slug).order_by("-number")
    return [
        VersionView(
            number=v.number,
            author_label=v.author_label,
            author_id=v.author_id,
            created_at=v.created_at,
            changes=tuple(v.changes),
            note=v.note,
            content=v.content,
        )
        for v in versions
    ]
