"""The security headers of every response, from one place.

:class:`SecurityHeadersMiddleware` sits first in ``MIDDLEWARE``, so nothing reaches the client
without passing it: pages, redirects, the portal's 429s, static files, ``/healthz``, and every error
(a 404 on any path, a 400 for a bad host, a 403 from the CSRF check). Each response gets the policy
of the part of the site it belongs to:

* **portal** (``/``, ``/ru/…``, ``/uk/…``, ``/en/…``, ``/apply/…``, ``/contacts.json``): nothing but
  this origin's own style sheet and images — no script at all (the portal needs none), no frames, no
  form posting elsewhere; links tell nobody where the reader came from;
* **console** (``/console/``, ``/accounts/``): scripts, styles, images and media from this origin
  only, no inline script or style; a view may set a stricter policy of its own (an attachment is
  shown sandboxed); the referrer policy is ``same-origin``, because with ``no-referrer`` browsers
  send ``Origin: null`` on form posts and Django's CSRF check (rightly) refuses them;
* **anything else** (``/healthz``, ``/ping``, the webhook, a 404 for a path nobody serves): a
  document that may load nothing at all.

Every response except a static file is ``Cache-Control: no-store``: pages may hold decrypted case
content or show that somebody read about surrendering, and a seized computer's browser cache should
hold none of them. Static files keep the caching WhiteNoise gives them (they are the same for
everybody). With ``HOTLINE_HSTS_SECONDS`` set, every response also carries
``Strict-Transport-Security`` (browsers ignore it on plain HTTP, so it is sent whatever the
scheme the proxy in front of the hotline received).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from hotline.portal.middleware import is_portal_path

PORTAL_POLICY = "; ".join(
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
CONSOLE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "media-src 'self' blob:",
        "font-src 'none'",
        "object-src 'none'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
NOTHING_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

CONSOLE_PREFIXES = ("/console/", "/accounts/")

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
PORTAL = {**_COMMON, "Content-Security-Policy": PORTAL_POLICY, "Referrer-Policy": "no-referrer"}
CONSOLE = {**_COMMON, "Content-Security-Policy": CONSOLE_POLICY, "Referrer-Policy": "same-origin"}
OTHER = {**_COMMON, "Content-Security-Policy": NOTHING_POLICY, "Referrer-Policy": "no-referrer"}


def headers_for(path: str) -> dict[str, str]:
    if is_portal_path(path):
        return PORTAL
    if path.startswith(CONSOLE_PREFIXES):
        return CONSOLE
    return OTHER


def _hsts() -> str | None:
    seconds = int(settings.SECURE_HSTS_SECONDS)
    if not seconds:
        return None
    return f"max-age={seconds}" + ("; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else "")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        path = request.path_info
        headers = response.headers
        for name, value in headers_for(path).items():
            if name == "Content-Security-Policy":
                headers.setdefault(name, value)  # a view's own, stricter policy stands
            else:
                headers[name] = value
        static = path.startswith(str(settings.STATIC_URL)) and response.status_code < 400
        if not (static and "Cache-Control" in headers):  # a static file keeps WhiteNoise's caching
            headers["Cache-Control"] = "no-store"
        hsts = _hsts()
        if hsts is not None:
            headers["Strict-Transport-Security"] = hsts
        return response
