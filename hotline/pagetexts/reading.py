"""Reading page texts: what the portal shows (one indexed query), and the editor's list and history."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from django.db import DatabaseError
from django.db.models import OuterRef, Subquery

from hotline import languages, rows
from hotline.pagetexts.models import PageVersion
from hotline.portal.content import PAGES, file_text

log = logging.getLogger("hotline.pagetexts")

# The history page shows at most this many versions, newest first (older ones stay in the database).
HISTORY_LIMIT = 200


def current_text(language: str, slug: str) -> str | None:
    """The newest version's text, or None when the page shows its file (never edited, or handed back).

    Registered with ``hotline.portal.content`` as a text source, so it runs on every page view: one
    plain statement (``hotline.rows``) on the (slug, language, number) index. If the database fails
    the page still shows its file text rather than an error: the safety pages matter most when
    something is wrong.
    """
    try:
        version = rows.fetch(PageVersion, {"slug": slug, "language": language}, order_by="-number")
    except DatabaseError as exc:
        log.error("pagetexts: could not read the page text, showing the file (%s)", type(exc).__name__)
        return None
    if version is None or version.uses_file:
        return None
    return version.text


def newest(language: str, slug: str) -> PageVersion | None:
    return PageVersion.objects.filter(slug=slug, language=language).order_by("-number").first()


@dataclass(frozen=True)
class PageState:
    """One page in one language for the editor's list."""

    slug: str
    language: str
    latest: PageVersion | None  # None: never edited

    @property
    def edited(self) -> bool:
        return self.latest is not None and not self.latest.uses_file


def page_states() -> list[PageState]:
    """Every page in every language with its newest version (if any), in the portal's page order."""
    newest_number = (
        PageVersion.objects.filter(slug=OuterRef("slug"), language=OuterRef("language"))
        .order_by("-number")
        .values("number")[:1]
    )
    latest = {
        (v.slug, v.language): v
        for v in PageVersion.objects.filter(number=Subquery(newest_number)).defer("text").select_related("author")
    }
    return [PageState(slug, lang, latest.get((slug, lang))) for slug in PAGES for lang in languages.codes()]


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "context", "gap"
    text: str


@dataclass(frozen=True)
class HistoryEntry:
    version: PageVersion
    diff: tuple[DiffLine, ...]  # against the version before it (the file, for the first one)
    added: int
    removed: int


def text_of(version: PageVersion | None, language: str, slug: str) -> str:
    """What the page said at ``version`` (None: before any edit). A version that hands the page back
    to its file is shown with the file as it is now."""
    if version is None or version.uses_file:
        return file_text(language, slug)
    return version.text


def diff(old: str, new: str) -> tuple[DiffLine, ...]:
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=1, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("gap", "…"))
        elif line.startswith("+"):
            lines.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("remove", line[1:]))
        else:
            lines.append(DiffLine("context", line[1:]))
    return tuple(lines)


def history(language: str, slug: str) -> list[HistoryEntry]:
    """Who changed the page, when, and what (a line diff against the version before), newest first."""
    versions = list(
        PageVersion.objects.filter(slug=slug, language=language)
        .select_related("author")
        .order_by("-number")[: HISTORY_LIMIT + 1]
    )
    entries = []
    for index, version in enumerate(versions[:HISTORY_LIMIT]):
        before = versions[index + 1] if index + 1 < len(versions) else None
        if before is None and version.number > 1:  # the one before is past the limit: no diff to show
            entries.append(HistoryEntry(version, (), 0, 0))
            continue
        lines = diff(text_of(before, language, slug), text_of(version, language, slug))
        entries.append(
            HistoryEntry(
                version,
                lines,
                added=sum(1 for line in lines if line.kind == "add"),
                removed=sum(1 for line in lines if line.kind == "remove"),
            )
        )
    return entries
