"""The website's page texts (admins): every page in every language, an editor with a preview, the
history of each page and roll back. Views validate and call ``hotline.pagetexts.actions``; they never
save. A text the portal could not render is refused with the reason and the line, and the editor
keeps what the admin typed."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hotline import languages
from hotline.accounts.staff import actor_of
from hotline.console.access import ADMINS, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.inputs import parse_int
from hotline.pagetexts import reading
from hotline.pagetexts.actions import (
    MAX_NOTE,
    MAX_TEXT,
    PageConflict,
    PageError,
    check_text,
    do_rollback_page,
    do_save_page,
)
from hotline.portal import content
from hotline.portal.views.common import nav_labels


def _known(language: str, slug: str) -> None:
    if language not in languages.codes() or slug not in content.PAGES:
        raise Http404


def _number(raw: str) -> int | None:
    return parse_int(raw, minimum=0, maximum=999_999_999)


@staff_view(ADMINS)
@require_safe
def pages(request: HttpRequest) -> HttpResponse:
    """Every page × language: edited or showing its file, and the last change."""
    states = {(s.slug, s.language): s for s in reading.page_states()}
    labels = nav_labels()
    rows = [
        (slug, labels.get(slug, slug), [states[(slug, lang)] for lang in languages.codes()]) for slug in content.PAGES
    ]
    return page(
        request,
        "console/pages.html",
        {"rows": rows, "languages": languages.choices(), "content_tab": "pages"},
    )


def _editor(
    request: HttpRequest,
    language: str,
    slug: str,
    *,
    text: str,
    based_on: int,
    note: str = "",
    error: str = "",
    preview: object = None,
    status: int = 200,
) -> HttpResponse:
    return page(
        request,
        "console/page_edit.html",
        {
            "language": language,
            "language_name": languages.name(language),
            "slug": slug,
            "text": text,
            "based_on": based_on,
            "note": note,
            "error": error,
            "preview": preview,
            "live_url": content.link("live", language, slug),
            "max_text": MAX_TEXT,
            "max_note": MAX_NOTE,
            "content_tab": "pages",
        },
        status=status,
    )


@staff_view(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def page_edit(request: HttpRequest, language: str, page_slug: str) -> HttpResponse:
    """GET: the current text in a textarea. POST ``action=preview`` shows the page as it would look;
    ``action=save`` makes it a new version. A refused text comes back in the editor with the reason."""
    slug = page_slug
    _known(language, slug)
    if request.method != "POST":
        latest = reading.newest(language, slug)
        return _editor(
            request, language, slug, text=content.page_text(language, slug), based_on=latest.number if latest else 0
        )
    text, note = request.POST.get("text", ""), request.POST.get("note", "")
    based_on = _number(request.POST.get("based_on", ""))
    if based_on is None or len(note) > MAX_NOTE:
        return problem(request, _("This form is incomplete. Reload the editor and try again."))
    if request.POST.get("action") == "preview":
        try:
            doc = check_text(language, text)
        except PageError as exc:
            return _editor(request, language, slug, text=text, based_on=based_on, note=note, error=str(exc), status=400)
        return _editor(request, language, slug, text=text, based_on=based_on, note=note, preview=doc)
    try:
        version = do_save_page(actor_of(me(request)), language, slug, text, note=note, based_on=based_on)
    except PageError as exc:
        status = 409 if isinstance(exc, PageConflict) else 400
        return _editor(request, language, slug, text=text, based_on=based_on, note=note, error=str(exc), status=status)
    if version is None:
        flash(request, _("Nothing changed: the page already says this."))
    else:
        flash(request, _("Saved as version %(n)s. The website shows it now.") % {"n": version.number})
    return HttpResponseRedirect(reverse("console:page_history", args=[language, slug]))


@staff_view(ADMINS)
@require_safe
def page_history(request: HttpRequest, language: str, page_slug: str) -> HttpResponse:
    slug = page_slug
    _known(language, slug)
    entries = reading.history(language, slug)
    return page(
        request,
        "console/page_history.html",
        {
            "language": language,
            "language_name": languages.name(language),
            "slug": slug,
            "entries": entries,
            "showing_file": not entries or entries[0].version.uses_file,
            "live_url": content.link("live", language, slug),
            "content_tab": "pages",
        },
    )


@staff_view(ADMINS)
@require_POST
def page_rollback(request: HttpRequest, language: str, page_slug: str) -> HttpResponse:
    """Make an earlier version current again (as a new version); version 0 is the file."""
    slug = page_slug
    _known(language, slug)
    number = _number(request.POST.get("version", ""))
    note = request.POST.get("note", "")
    if number is None or len(note) > MAX_NOTE:
        return problem(request, _("Choose a version to go back to."))
    try:
        version = do_rollback_page(actor_of(me(request)), language, slug, number, note=note)
    except PageError as exc:
        return problem(request, str(exc))
    if version.uses_file:
        flash(request, _("The page shows its original text again (version %(n)s).") % {"n": version.number})
    else:
        flash(request, _("Version %(old)s restored as version %(n)s.") % {"old": number, "n": version.number})
    return HttpResponseRedirect(reverse("console:page_history", args=[language, slug]))
