"""Actions: the only code that writes page texts.

Each ``do_*`` function checks who is asking and what, runs in one transaction, appends a
``PageVersion`` (history is never rewritten: a rollback is a new version with old text) and records
the audit event in the same transaction. A text the portal could not render is refused here, so a
saved page can always be shown.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hotline import languages
from hotline.audit import log as audit
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.pagetexts.models import PageVersion
from hotline.pagetexts.reading import newest, text_of
from hotline.portal import content, markup

OBJECT_TYPE = "portal_page"
# The website speaks for the service to everyone who reads it: only administrators change it.
EDITORS = frozenset({Role.ADMIN, Role.SYSTEM})
MAX_TEXT = 20_000
MAX_NOTE = 200


class PageError(Exception):
    """A refused change, with a message fit to show the person who asked for it."""


class PageConflict(PageError):
    """Someone else saved the page first: the change would undo theirs."""


def _check_editor(actor: Actor) -> None:
    if actor.role not in EDITORS:
        raise PageError(_("only administrators edit the website's pages"))


def check_page(language: str, slug: str) -> None:
    if language not in languages.codes() or slug not in content.PAGES:
        raise PageError(_("there is no such page"))


def normalise(text: str) -> str:
    """Browsers post CRLF; blank lines around the text mean nothing."""
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\n").rstrip() + "\n"


def check_text(language: str, text: str) -> markup.Document:
    """The page as the portal would render it, or PageError saying what is wrong and on which line."""
    if not text.strip():
        raise PageError(_("the text is empty"))
    if len(text) > MAX_TEXT:
        raise PageError(_("the text is longer than %(n)s characters") % {"n": MAX_TEXT})
    try:
        doc = content.render_text(language, text)
    except markup.MarkupError as exc:
        raise PageError(str(exc)) from exc
    if not doc.title:
        raise PageError(_("line 1: the title is empty"))
    return doc


def _append(
    actor: Actor, language: str, slug: str, *, text: str, uses_file: bool, restored_from: int | None, note: str
) -> PageVersion:
    latest = newest(language, slug)
    try:
        with transaction.atomic():
            return PageVersion.objects.create(
                slug=slug,
                language=language,
                number=(latest.number if latest else 0) + 1,
                text=text,
                uses_file=uses_file,
                restored_from=restored_from,
                note=note.strip()[:MAX_NOTE],
                author_id=actor.user_id,
                author_label=actor.label[:150],
                created_at=timezone.now(),
            )
    except IntegrityError as exc:  # two saves of one page at the same moment: the second is refused
        raise PageConflict(_("someone else saved this page at the same moment; reload it and try again")) from exc


def do_save_page(
    actor: Actor, language: str, slug: str, text: str, *, note: str = "", based_on: int | None = None
) -> PageVersion | None:
    """Make ``text`` what the page shows, as a new version. None when the page already says exactly
    that (no version, no event).

    ``based_on`` is the version the editor started from (0: the file): if someone saved the page
    since, the save is refused instead of silently undoing their change.
    """
    _check_editor(actor)
    check_page(language, slug)
    text = normalise(text)
    check_text(language, text)
    with transaction.atomic():
        latest = newest(language, slug)
        if based_on is not None and based_on != (latest.number if latest else 0):
            raise PageConflict(
                _("this page was changed by someone else since you opened it; reload it to see their version")
            )
        if latest is not None and not latest.uses_file and latest.text == text:
            return None
        if (latest is None or latest.uses_file) and text == normalise(content.file_text(language, slug)):
            return None
        version = _append(actor, language, slug, text=text, uses_file=False, restored_from=None, note=note)
        audit.record(
            actor, "page.save", OBJECT_TYPE, f"{language}/{slug}", {"version": version.number, "chars": len(text)}
        )
    return version


def do_rollback_page(actor: Actor, language: str, slug: str, to_version: int, *, note: str = "") -> PageVersion:
    """Make version ``to_version``'s text current again, as a new version; ``0`` hands the page back
    to its file (the shipped text, or the deployment's own)."""
    _check_editor(actor)
    check_page(language, slug)
    with transaction.atomic():
        latest = newest(language, slug)
        if to_version == 0:
            uses_file, text = True, ""
        else:
            target = PageVersion.objects.filter(slug=slug, language=language, number=to_version).first()
            if target is None:
                raise PageError(_("this page has no version %(n)s") % {"n": to_version})
            uses_file, text = target.uses_file, target.text
        showing_file = latest is None or latest.uses_file
        same_text = latest is not None and not showing_file and latest.text == text
        if (uses_file and showing_file) or (not uses_file and same_text):
            raise PageError(_("the page already says what version %(n)s says") % {"n": to_version})
        try:
            check_text(language, text_of(None, language, slug) if uses_file else text)
        except PageError as exc:
            reason = {"n": to_version, "reason": exc}
            raise PageError(_("version %(n)s cannot be shown any more: %(reason)s") % reason) from exc
        version = _append(actor, language, slug, text=text, uses_file=uses_file, restored_from=to_version, note=note)
        audit.record(
            actor,
            "page.rollback",
            OBJECT_TYPE,
            f"{language}/{slug}",
            {"version": version.number, "restored": to_version, "to_file": uses_file},
        )
    return version
