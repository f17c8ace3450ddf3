"""Error pages the console hands Django: a refused form post says why, in the staff member's language."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from hotline.console.render import problem


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 for a form post without a valid CSRF token (an old tab, or a page from another site)."""
    return problem(
        request,
        _("This form was refused because it did not come from this console page. Reload the page and try again."),
        status=403,
    )
