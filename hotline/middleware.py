"""The console's per-request machinery, kept to the requests that use it.

Sessions, the signed-in user, the second factor, the idle timeout and the language negotiation are
what the console (``/console/``, ``/accounts/``) runs on. The applicants' website, the Telegram
webhook and the liveness checks use none of them: the portal sets no cookie and takes its language
from the path, the webhook is authenticated by its secret, ``/ping`` and ``/healthz`` answer
anyone. For those *lean* paths the middleware below pass the request straight on; on every other
path each is exactly the Django or django-otp middleware it extends.

A lean request has no ``request.session`` and no ``request.user``: a view on a lean path that
reached for them would fail loudly (an error), never run as somebody. CSRF, host validation
(``CommonMiddleware``), the security headers and the portal's own limits and headers still run for
every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.sessions import middleware as session_middleware
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware import locale
from django.utils import translation
from django_otp import middleware as otp_middleware

from hotline.portal.middleware import is_portal_path, language_of


def trim_request_signals() -> None:
    """Drop two of Django's per-request signal handlers that do nothing in this deployment.

    Every request sends ``request_started`` and ``request_finished``; on a lean path their handlers
    are a good part of what the request costs. Two of them have nothing to do here:

    * ``reset_queries`` empties the log of statements, which is only kept with ``DEBUG`` on;
    * ``close_caches`` closes Django's cache connections, and this project configures no cache that
      has any (the default in-memory cache's ``close`` does nothing).

    ``close_old_connections`` stays: it is what replaces a database connection that failed.
    """
    from django.core import signals
    from django.core.cache import close_caches
    from django.db import reset_queries

    if not settings.DEBUG:
        signals.request_started.disconnect(reset_queries)
    backends = {str(cache.get("BACKEND", "")) for cache in settings.CACHES.values()}
    if backends <= {"django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"}:
        signals.request_finished.disconnect(close_caches)


_LEAN_EXACT = frozenset({"/ping", "/healthz", "/telegram/webhook"})


def is_lean(path: str) -> bool:
    """True for a path served without sessions, users or language negotiation."""
    return path in _LEAN_EXACT or path.startswith("/voice/") or is_portal_path(path)


class SessionMiddleware(session_middleware.SessionMiddleware):
    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_lean(request.path_info):
            return cast(HttpResponseBase, self.get_response(request))
        return cast(HttpResponseBase, super().__call__(request))


class LocaleMiddleware(locale.LocaleMiddleware):
    """On lean paths the language is the path's (a portal page) or the default: nothing is negotiated,
    and nothing a previous request on this thread activated is left behind."""

    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if is_lean(path):
            if is_portal_path(path):
                translation.activate(language_of(path))
            else:
                translation.deactivate()
            return cast(HttpResponseBase, self.get_response(request))
        return cast(HttpResponseBase, super().__call__(request))


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_lean(request.path_info):
            return cast(HttpResponseBase, self.get_response(request))
        return cast(HttpResponseBase, super().__call__(request))


class OTPMiddleware(otp_middleware.OTPMiddleware):
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_lean(request.path_info):
            return cast(HttpResponseBase, self.get_response(request))
        return cast(HttpResponseBase, super().__call__(request))
