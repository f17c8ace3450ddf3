"""What every portal view shares: the page frame (navigation, language links), refusals with a
reason, and the check that a form post came from this site."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from hotline import languages
from hotline.portal import content


def speaks(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run a view in the language its URL names (messages made in the view, not only the template)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, lang: str, *args: Any, **kwargs: Any) -> HttpResponse:
        with translation.override(lang):
            return view(request, lang, *args, **kwargs)

    return wrapper


def nav_labels() -> dict[str, str]:
    """Short names of the pages, for the navigation (in the active language)."""
    return {
        "home": _("About the hotline"),
        "guarantees": _("Guarantees"),
        "how-to-apply": _("How to apply"),
        "after-surrender": _("After surrender"),
        "faq": _("Questions and answers"),
        "contacts": _("Official contacts"),
        "safety": _("Staying safe"),
        "apply": _("Apply online"),
        "receipt": _("I have a receipt"),
        "figures": _("Figures"),
    }


def frame(language: str, slug: str, mode: content.Mode = "live", css: str | None = None) -> dict[str, Any]:
    """Context for ``portal/base.html``: links for this language, this page in the other languages.

    The same for every request to a page, so it is built once per process (templates only read it).
    """
    return _frame(language, slug, mode, css, translation.get_language() or language, languages.codes())


@functools.lru_cache(maxsize=512)
def _frame(
    language: str, slug: str, mode: content.Mode, css: str | None, _active: str, _offered: tuple[str, ...]
) -> dict[str, Any]:
    labels = nav_labels()
    links = {name: content.link(mode, language, name) for name in labels}
    if mode == "live":
        links["receipt_write"] = reverse("portal:receipt-write", args=[language])
    return {
        "lang": language,
        "slug": slug,
        "mode": mode,
        "links": links,
        "nav": [{"slug": s, "label": labels[s], "url": links[s], "current": s == slug} for s in content.NAVIGATION],
        "languages": [
            {"code": code, "name": name, "url": content.link(mode, code, slug), "current": code == language}
            for code, name in languages.choices()
        ],
        "css_url": css or static("portal/portal.css"),
    }


def render(
    request: HttpRequest | None,
    language: str,
    template: str,
    slug: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    with translation.override(language):
        body = render_to_string(template, {**frame(language, slug), **(context or {})}, request=request)
    response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    response["Content-Language"] = language
    return response


def problem(
    request: HttpRequest, language: str, message: str, *, status: int = 400, slug: str = "home"
) -> HttpResponse:
    """A refusal that says why, in the page frame (4xx; never a stack trace)."""
    return render(request, language, "portal/problem.html", slug, {"message": message}, status=status)


def from_elsewhere(request: HttpRequest) -> bool:
    """True for a form post another site made the browser send.

    Portal forms carry no Django CSRF token, because that needs a cookie before the applicant has
    chosen to start anything. Instead: browsers say where a request comes from (Sec-Fetch-Site, and
    Origin on posts); a post that admits to another origin is refused. Form posts inside a started
    application also carry a token bound to its session cookie (``channels.web.session.form_token``).
    """
    if request.headers.get("Sec-Fetch-Site", "") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin", "")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() != request.get_host().lower()
    return False


def refused_elsewhere(request: HttpRequest, language: str) -> HttpResponse:
    return problem(
        request,
        language,
        _("This form was sent from another website, so it was not accepted. Open this site directly and try again."),
        status=403,
    )


def clean_field(request: HttpRequest, name: str, limit: int) -> str | None:
    """A posted field, or None when it is longer than ``limit`` (the caller says so with a 400)."""
    value = request.POST.get(name, "")
    return None if len(value) > limit else value
