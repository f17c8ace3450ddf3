"""Loading the starter articles (``kb/articles/*.yaml``) into the database: ``hotline kb load``.

Idempotent: an article already in the database with the same content is left alone (no version, no
audit event). An article whose file changed is updated, unless an administrator has edited it in
the console since it was loaded: their edit wins, and the article is reported as kept (``--force``
overwrites). Publishing is decided by the file only when an article is first created; afterwards it
is the administrators' call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hotline.core.actor import Actor
from hotline.kb import actions
from hotline.kb.content import read_directory
from hotline.kb.models import Article

LOADER = Actor.system("kb-loader")


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Edited in the console after loading; the file's version was not applied.
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.kept)} kept (edited in the console)"
        )


def _edited_by_staff(article: Article) -> bool:
    latest = article.versions.order_by("-number").first()
    return latest is not None and latest.author_id is not None


def load_directory(directory: Path, *, force: bool = False, actor: Actor = LOADER) -> LoadReport:
    """Create or update every article in ``directory``. Every file is checked before anything is written."""
    files = read_directory(directory)
    report = LoadReport()
    for item in files:
        article = Article.objects.filter(slug=item.slug).first()
        if article is None:
            actions.do_create_article(
                actor, item.slug, item.texts, position=item.position, published=item.published, note="loaded from file"
            )
            report.created.append(item.slug)
            continue
        if actions.current_texts(article) == item.texts and article.position == item.position:
            report.unchanged.append(item.slug)
        elif _edited_by_staff(article) and not force:
            report.kept.append(item.slug)
        else:
            actions.do_update_article(
                actor,
                item.slug,
                item.texts,
                position=item.position,
                remove_languages=set(actions.current_texts(article)) - set(item.texts),
                note="loaded from file",
            )
            report.updated.append(item.slug)
    return report
