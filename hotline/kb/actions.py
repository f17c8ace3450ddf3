"""Actions: the only code that writes knowledge base articles.

Each ``do_*`` function runs in one transaction, checks who is asking and what, saves a new
``ArticleVersion`` when the content changes (history is never rewritten: a rollback is a new version
with old content), and records the audit event in the same transaction. The search index of every
process notices the change through ``Article.revision``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline.audit import log as audit
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.kb import search
from hotline.kb.content import ArticleContent, ContentError, check_content, check_language, check_slug
from hotline.kb.models import Article, ArticleText, ArticleVersion

OBJECT_TYPE = "kb_article"
# Articles speak for the service to anyone who asks: only administrators (and the loader) write them.
EDITORS = frozenset({Role.ADMIN, Role.SYSTEM})


class KbError(Exception):
    """A refused change, with a message fit to show the person who asked for it."""


def _check_editor(actor: Actor) -> None:
    if actor.role not in EDITORS:
        raise KbError(_("only administrators edit the knowledge base"))


def _checked_texts(texts: Mapping[str, ArticleContent]) -> dict[str, ArticleContent]:
    try:
        return {check_language(lang): check_content(lang, content) for lang, content in texts.items()}
    except ContentError as exc:
        raise KbError(str(exc)) from exc


def _locked(slug: str) -> Article:
    article = Article.objects.select_for_update().filter(slug=slug).first()
    if article is None:
        raise KbError(_("there is no article %(slug)r") % {"slug": slug[:64]})
    return article


def _snapshot(position: int, texts: Mapping[str, ArticleContent]) -> dict[str, Any]:
    return {"position": position, "texts": {lang: texts[lang].as_dict() for lang in sorted(texts)}}


def current_texts(article: Article) -> dict[str, ArticleContent]:
    return {
        t.language: ArticleContent(title=t.title, questions=tuple(t.questions), answer=t.answer)
        for t in article.texts.all()
    }


def _changes(old: Mapping[str, ArticleContent], new: Mapping[str, ArticleContent]) -> list[str]:
    """Which fields differ, by name only (the audit log holds no article text)."""
    changed = []
    for lang in sorted(set(old) | set(new)):
        if lang not in new:
            changed.append(f"{lang} removed")
        elif lang not in old:
            changed.append(f"{lang} added")
        else:
            changed += [
                f"{lang}.{f}"
                for f in ("title", "questions", "answer")
                if getattr(old[lang], f) != getattr(new[lang], f)
            ]
    return changed


def _write(
    actor: Actor, article: Article, texts: Mapping[str, ArticleContent], changes: list[str], note: str
) -> ArticleVersion:
    """Replace the article's texts and append the version that records them."""
    now = timezone.now()
    article.texts.exclude(language__in=list(texts)).delete()
    for lang, content in texts.items():
        ArticleText.objects.update_or_create(
            article=article,
            language=lang,
            defaults={"title": content.title, "questions": list(content.questions), "answer": content.answer},
        )
    article.version += 1
    article.revision += 1
    article.updated_at = now
    article.save(update_fields=["version", "revision", "updated_at", "position"])
    transaction.on_commit(search.invalidate)
    return ArticleVersion.objects.create(
        article=article,
        number=article.version,
        content=_snapshot(article.position, texts),
        changes=changes,
        note=note[:200],
        author_id=actor.user_id,
        author_label=actor.label[:150],
        created_at=now,
    )


def do_create_article(
    actor: Actor,
    slug: str,
    texts: Mapping[str, ArticleContent],
    *,
    position: int = 0,
    published: bool = False,
    note: str = "",
) -> Article:
    """A new article (version 1). Unpublished unless asked: an admin reads it over first."""
    _check_editor(actor)
    try:
        check_slug(slug)
    except ContentError as exc:
        raise KbError(str(exc)) from exc
    checked = _checked_texts(texts)
    if not checked:
        raise KbError(_("an article needs its text in at least one language"))
    with transaction.atomic():
        now = timezone.now()
        try:
            with transaction.atomic():
                article = Article.objects.create(
                    slug=slug, position=position, published=published, created_at=now, updated_at=now
                )
        except IntegrityError as exc:
            raise KbError(_("an article %(slug)r already exists") % {"slug": slug}) from exc
        version = _write(actor, article, checked, [f"{lang} added" for lang in sorted(checked)], note)
        audit.record(
            actor,
            "kb.article.create",
            OBJECT_TYPE,
            slug,
            {"version": version.number, "languages": sorted(checked), "published": published},
        )
    return article


def do_update_article(
    actor: Actor,
    slug: str,
    texts: Mapping[str, ArticleContent],
    *,
    position: int | None = None,
    remove_languages: Iterable[str] = (),
    note: str = "",
) -> Article:
    """Replace the texts of the languages in ``texts`` (others stay), remove ``remove_languages``.

    Saving what the article already says makes no version and no audit event, so reloading the
    starter content or pressing Save twice leaves the history clean.
    """
    _check_editor(actor)
    checked = _checked_texts(texts)
    with transaction.atomic():
        article = _locked(slug)
        old = current_texts(article)
        new = {**old, **checked}
        for lang in remove_languages:
            new.pop(lang, None)
        if not new:
            raise KbError(_("an article needs its text in at least one language"))
        changes = _changes(old, new)
        if position is not None and position != article.position:
            changes.append("position")
            article.position = position
        if not changes:
            return article
        version = _write(actor, article, new, changes, note)
        audit.record(actor, "kb.article.update", OBJECT_TYPE, slug, {"version": version.number, "changes": changes})
    return article


def do_publish(actor: Actor, slug: str, published: bool = True) -> Article:
    """Show the article on the FAQ page and let the search answer with it (or stop doing so)."""
    _check_editor(actor)
    with transaction.atomic():
        article = _locked(slug)
        if article.published == published:
            return article
        article.published = published
        article.revision += 1
        article.updated_at = timezone.now()
        article.save(update_fields=["published", "revision", "updated_at"])
        transaction.on_commit(search.invalidate)
        action = "kb.article.publish" if published else "kb.article.unpublish"
        audit.record(actor, action, OBJECT_TYPE, slug, {"version": article.version})
    return article


def do_rollback(actor: Actor, slug: str, to_version: int, *, note: str = "") -> Article:
    """Make version ``to_version``'s content current again, as a new version on top of the history."""
    _check_editor(actor)
    with transaction.atomic():
        article = _locked(slug)
        target = ArticleVersion.objects.filter(article=article, number=to_version).first()
        if target is None:
            raise KbError(_("%(slug)s has no version %(n)s") % {"slug": slug, "n": to_version})
        texts = {lang: ArticleContent.from_dict(data) for lang, data in target.texts().items()}
        position = int(target.content.get("position", article.position))
        old = current_texts(article)
        changes = _changes(old, texts) + (["position"] if position != article.position else [])
        if not changes:
            raise KbError(_("version %(n)s is what %(slug)s already says") % {"slug": slug, "n": to_version})
        article.position = position
        version = _write(actor, article, texts, [f"restored from {to_version}", *changes], note)
        audit.record(
            actor,
            "kb.article.rollback",
            OBJECT_TYPE,
            slug,
            {"version": version.number, "restored": to_version, "changes": changes},
        )
    return article
