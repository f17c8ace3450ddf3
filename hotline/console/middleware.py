"""Response headers that keep console pages to this server and out of caches, and static files.

The Content-Security-Policy allows scripts, styles, images and media from this origin only, no
inline script or style, no framing and no form posting elsewhere: a page of the console can load
nothing from another host and leak nothing to one. Pages may hold decrypted case content, so they
are also marked ``no-store`` (never written to the browser's disk cache).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]

CONTENT_SECURITY_POLICY = "; ".join(
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
# The console and sign-in pages. The rest of the site (home page, portal) sets its own policy.
PROTECTED_PREFIXES = ("/console/", "/accounts/")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PROTECTED_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers["Cache-Control"] = "no-store"
            # Not "no-referrer": with it, browsers send "Origin: null" on form posts and Django's CSRF
            # check (rightly) refuses them. "same-origin" still tells other sites nothing.
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
            response.headers.setdefault(
                "Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"
            )
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, serving straight from the apps' static folders (no ``collectstatic`` step), and
    quiet when the optional collected-files directory does not exist."""

    def add_files(self, root: str, prefix: str | None = None) -> None:
        import os

        if os.path.isdir(root):
            super().add_files(root, prefix)
