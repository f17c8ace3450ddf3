"""The portal's first line: flood limits before anything else runs, and the headers of every page.

It sits at the top of MIDDLEWARE so a rejected request costs a hash and a dictionary look-up — no
session, no template, no database. Only portal paths (``/``, ``/ru/…``, ``/uk/…``, ``/en/…``,
``/contacts.json``) are touched; the console, the webhook, static files and ``/ping`` pass through.

The Content-Security-Policy allows nothing but this origin's own style sheet: no script at all (the
portal needs none), no frames, no forms posting elsewhere. Pages are never cached (``no-store``):
a seized computer's browser cache should not hold them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from hotline.portal import limits
from hotline.portal.languages import DEFAULT, LANGUAGES

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'none'",
        "connect-src 'none'",
        "media-src 'none'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "manifest-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    # Links from the portal tell nobody where the reader came from (form posts are checked with
    # Sec-Fetch-Site and a session-bound token instead of the Origin a referrer policy would give).
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "X-Content-Type-Options": "nosniff",
}
_PREFIXES = ("/apply/", *(f"/{code}/" for code in LANGUAGES))
_EXACT = {"/", "/contacts.json", "/contacts.json.sig", *(f"/{code}" for code in LANGUAGES)}


def is_portal_path(path: str) -> bool:
    return path in _EXACT or path.startswith(_PREFIXES)


def language_of(path: str) -> str:
    if path.startswith("/apply/"):
        path = path[6:]
    code = path[1:3]
    return code if code in LANGUAGES and path[3:4] in ("", "/") else DEFAULT


@functools.cache
def _too_many_page(language: str) -> bytes:
    with translation.override(language):
        return render_to_string("portal/too_many.html", {"lang": language}).encode()


def too_many(language: str, wait: float) -> HttpResponse:
    """429 with a short, polite page and Retry-After (whole seconds, at least 1)."""
    response = HttpResponse(_too_many_page(language), status=429, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def add_headers(response: HttpResponse) -> HttpResponse:
    for name, value in HEADERS.items():
        response.headers[name] = value
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
            return add_headers(too_many(language_of(path), wait))
        response = add_headers(self.get_response(request))
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
