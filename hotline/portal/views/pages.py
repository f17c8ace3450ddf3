"""The information pages: about, guarantees, how to apply, after surrender, FAQ, contacts, safety."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from hotline.keyring.actions import is_set_up
from hotline.portal import contacts, content, kb
from hotline.portal.languages import negotiate
from hotline.portal.views.common import clean_field, from_elsewhere, problem, refused_elsewhere, render, speaks

MAX_QUERY = 300

log = logging.getLogger("hotline.portal")


def _page(
    request: HttpRequest, language: str, slug: str, template: str = "portal/page.html", **extra: object
) -> HttpResponse:
    doc = content.page(language, slug)
    return render(request, language, template, slug, {"doc": doc, **extra})


def _set_up() -> bool:
    """Whether the home page may skip its "not set up yet" note. The page is information, and stays
    up when the database is down (as the other information pages do): then nothing is said about
    set-up, which the database alone knows."""
    try:
        return is_set_up()
    except DatabaseError as exc:
        log.warning("portal: database unavailable, the home page is shown without it (%s)", type(exc).__name__)
        return True


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    """``/``: the home page in the browser's language (links from it carry the language)."""
    language = negotiate(request.headers.get("Accept-Language"))
    response = _page(request, language, "home", "portal/home.html", set_up=_set_up())
    response["Vary"] = "Accept-Language"
    return response


@require_safe
@speaks
def home(request: HttpRequest, lang: str) -> HttpResponse:
    return _page(request, lang, "home", "portal/home.html", set_up=_set_up())


@require_safe
@speaks
def page(request: HttpRequest, lang: str, slug: str) -> HttpResponse:
    if slug not in content.TEXT_PAGES or slug == "home":
        raise Http404("no such page")
    if slug == "how-to-apply":
        return _page(request, lang, slug, "portal/how_to_apply.html", **_contacts_context())
    return _page(request, lang, slug)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@speaks
def faq(request: HttpRequest, lang: str) -> HttpResponse:
    """Published knowledge-base articles; a search box when the knowledge base offers search."""
    query, results = "", None
    if request.method == "POST":
        if from_elsewhere(request):
            return refused_elsewhere(request, lang)
        given = clean_field(request, "q", MAX_QUERY)
        if given is None:
            return problem(request, lang, _("The question is too long."), slug="faq")
        query = " ".join(given.split())
        if query:
            results = kb.search(lang, query)
    return _page(
        request,
        lang,
        "faq",
        "portal/faq.html",
        entries=kb.published(lang),
        can_search=kb.can_search(),
        query=query,
        results=results,
    )


def _contacts_context() -> dict[str, object]:
    try:
        return {"signed": contacts.published(), "contacts_error": None}
    except contacts.ContactsError as exc:
        return {"signed": None, "contacts_error": str(exc)}


@require_safe
@speaks
def contacts_page(request: HttpRequest, lang: str) -> HttpResponse:
    return _page(request, lang, "contacts", "portal/contacts.html", **_contacts_context())


def _contacts_file(path: Path, content_type: str) -> HttpResponse:
    try:
        signed = contacts.published()
    except contacts.ContactsError as exc:
        return HttpResponse(f"not verified: {exc}\n", status=409, content_type="text/plain; charset=utf-8")
    if signed is None:
        return HttpResponse("no contacts manifest has been published\n", status=404, content_type="text/plain")
    response = HttpResponse(path.read_bytes(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


@require_safe
def contacts_manifest(request: HttpRequest) -> HttpResponse:
    """The signed manifest as a file, for anyone to check with ``hotline contacts verify``."""
    return _contacts_file(Path(settings.HOTLINE_CONTACTS_FILE), "application/json")


@require_safe
def contacts_signature(request: HttpRequest) -> HttpResponse:
    return _contacts_file(contacts.signature_path(Path(settings.HOTLINE_CONTACTS_FILE)), "application/json")
