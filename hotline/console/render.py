"""Rendering console pages: the layout's shared context (navigation, one-time notices) in one place."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hotline.accounts.models import User
from hotline.console.access import CASEWORKERS
from hotline.console.navigation import items_for
from hotline.notify.models import NotificationSettings

_FLASH = "flash"


def flash(request: HttpRequest, message: str) -> None:
    """A notice shown once, on the next page this session renders (after a redirect)."""
    notices = list(request.session.get(_FLASH, []))
    notices.append(str(message))
    request.session[_FLASH] = notices[-5:]


def page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    user = getattr(request, "user", None)
    staff = user if isinstance(user, User) and user.is_authenticated else None
    base: dict[str, Any] = {
        "flash": request.session.pop(_FLASH, []),
        "nav": items_for(staff) if staff is not None else [],
        "me": staff,
        "can_work_cases": staff is not None and staff.staff_role in CASEWORKERS,
        "notify_in_console": _notify_in_console(staff),
        "notify_poll_seconds": settings.HOTLINE_NOTIFY_POLL_SECONDS,
    }
    base.update(context or {})
    return render(request, template, base, status=status)


def _notify_in_console(staff: User | None) -> bool:
    """Whether this page polls for notification counts (console.js reads it from the page)."""
    if staff is None or staff.staff_role not in CASEWORKERS:
        return False
    return NotificationSettings.objects.filter(user=staff, in_console=True).exists()


def problem(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    """A clear 4xx page (or fragment, for htmx) saying what was wrong with the request."""
    if request.headers.get("HX-Request"):
        return render(request, "console/_problem.html", {"message": message}, status=status)
    return page(request, "console/problem.html", {"message": message}, status=status)
