"""503 when the database cannot take a write right now (SQLite busy past its timeout, PostgreSQL
down): the applicant is told to try again in a moment; nothing half-done was stored."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from hotline.portal.views.common import problem

log = logging.getLogger("hotline.portal")


def unavailable(request: HttpRequest, language: str, exc: Exception) -> HttpResponse:
    log.warning("portal: database unavailable (%s)", type(exc).__name__)
    response = problem(
        request,
        language,
        _("The hotline is very busy or briefly unavailable. Nothing was lost: please try again in a minute."),
        status=503,
    )
    response["Retry-After"] = "30"
    return response
