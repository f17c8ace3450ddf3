"""Knowledge base articles. Public text, not sealed: the same answers go to anyone who asks.

Write them only through ``hotline.kb.actions``: every change makes a new ``ArticleVersion`` (who,
when, which fields) and an audit event in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Article(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    published = models.BooleanField(default=False)
    # Order on the FAQ page, smallest first.
    position = models.IntegerField(default=0)
    # The number of the version the texts below match.
    version = models.PositiveIntegerField(default=0)
    # Raised by every change (texts or publishing): processes compare the sum to know their search
    # index is stale without any clock.
    revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug


class ArticleText(models.Model):
    """The current text of an article in one language."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=8)
    title = models.CharField(max_length=200)
    questions = models.JSONField(default=list)
    answer = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "language"], name="kb_text_language_unique")]


class ArticleVersion(models.Model):
    """A snapshot of an article as it was saved: the whole content, who saved it and what changed."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # {"position": int, "texts": {language: {"title", "questions", "answer"}}}
    content = models.JSONField()
    # Field names such as "ru.answer" or "position"; "restored from 3" for a rollback.
    changes = models.JSONField(default=list)
    note = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Kept when the staff account is gone; "kb-loader" for the starter content.
    author_label = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["article", "number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"], name="kb_version_unique")]

    def texts(self) -> dict[str, Any]:
        texts: dict[str, Any] = self.content.get("texts", {})
        return texts


class AutoAnswerDay(models.Model):
    """How many questions the bot answered from the knowledge base on one day: a number, nothing more
    (never the question, the article, the language or the chat). Written by ``kb.counter``."""

    day = models.DateField(unique=True)
    count = models.PositiveIntegerField(default=0)
