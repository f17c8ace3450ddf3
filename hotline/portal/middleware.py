"""The portal's first line: flood limits before anything else runs.

It sits near the top of MIDDLEWARE (only the security headers, ``hotline/headers.py``, wrap it) so a
rejected request costs a hash and a dictionary look-up — no session, no template, no database. Only
portal paths (``/``, ``/<language>/…`` for a declared language, ``/apply/…``, ``/contacts.json``)
are touched; the console, the webhook, static files and ``/ping`` pass through. The portal's headers
(a Content-Security-Policy that allows no script at all, ``no-store``) are set with every other
response's in ``hotline/headers.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from hotline import languages
from hotline.portal import limits

_EXACT = {"/", "/contacts.json", "/contacts.json.sig"}


def is_portal_path(path: str) -> bool:
    if path in _EXACT or path.startswith("/apply/"):
        return True
    return path[1:].partition("/")[0] in languages.codes()


def language_of(path: str) -> str:
    if path.startswith("/apply/"):
        path = path[6:]
    code, _slash, _rest = path[1:].partition("/")
    return code if code in languages.codes() else languages.default()


@functools.cache
def _too_many_page(language: str) -> bytes:
    with translation.override(language):
        return render_to_string("portal/too_many.html", {"lang": language}).encode()


def too_many(language: str, wait: float) -> HttpResponse:
    """429 with a short, polite page and Retry-After (whole seconds, at least 1)."""
    response = HttpResponse(_too_many_page(language), status=429, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def onion_location(request: HttpRequest) -> str | None:
    """Where Tor Browser should offer to go instead: the same path on the hotline's onion address.

    Taken from the signed contacts manifest (so it is the address people can verify), and only for
    pages reached under another name: Tor Browser shows it as "Open in Tor" on HTTPS pages.
    """
    from hotline.portal import contacts

    try:
        signed = contacts.published()
    except contacts.ContactsError:
        return None
    if signed is None or not signed.manifest.onion:
        return None
    host = request.get_host().split(":", 1)[0].lower()
    if host.endswith(".onion"):
        return None
    return f"http://{signed.manifest.onion[0]}{request.get_full_path()}"


class PortalMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not is_portal_path(path):
            return self.get_response(request)
        wait = limits.get().admit_request(limits.client_key(request))
        if wait:
            return too_many(language_of(path), wait)
        response = self.get_response(request)
        onion = onion_location(request) if request.method in ("GET", "HEAD") else None  # page loads only
        if onion is not None:
            response.headers["Onion-Location"] = onion
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A database that is down or busy past its timeout: 503 and "try again", not a 500."""
        if not is_portal_path(request.path_info) or not isinstance(exception, DatabaseError):
            return None
        from hotline.portal.views.unavailable import unavailable

        return unavailable(request, language_of(request.path_info), exception)
