"""Signing staff out after a period without activity, and after a working day at the latest.

Background refreshes (the queue polls every few seconds) say so with an ``X-Hotline-Poll`` header
and do not count as activity; otherwise an open tab would keep a session alive forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from hotline.accounts.unlock import forget

_LAST_SEEN = "last_seen"
SIGNED_IN_AT = "signed_in_at"
_RECORD_EVERY = 30  # seconds: keep the session row from being rewritten on every click


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timed_out = self._check(request)
        response = self.get_response(request)
        if timed_out:
            forget(response)
        return response

    def _check(self, request: HttpRequest) -> bool:
        """Sign the session out if it has been idle too long; True if it was."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        now = int(time.time())
        last = request.session.get(_LAST_SEEN)
        started = request.session.get(SIGNED_IN_AT)
        if isinstance(last, int) and now - last > settings.HOTLINE_CONSOLE_IDLE_MINUTES * 60:
            logout(request)
            request.session["flash"] = [_("You were signed out after a period of inactivity.")]
            return True
        # The session row's own expiry moves forward whenever it is saved, so the cap is kept here.
        if isinstance(started, int) and now - started > settings.SESSION_COOKIE_AGE:
            logout(request)
            request.session["flash"] = [_("Your session reached its maximum length. Sign in again.")]
            return True
        is_poll = request.headers.get("X-Hotline-Poll") == "1"
        if not is_poll and (not isinstance(last, int) or now - last >= _RECORD_EVERY):
            request.session[_LAST_SEEN] = now
        return False
