"""The application form: the intake flow, one question per page, with JavaScript off.

``GET /apply/<lang>/`` shows the start page. ``POST`` with ``action``:

* ``start`` — the first question (admitted by the per-client and global limits on new forms);
* ``answer`` (or a button named ``value``) — answer the current question; ``back``; ``skip``;
* ``show`` — the current question again, in the language of the URL (the language buttons);
* ``person`` — hand over to an operator; the applicant gets a receipt and can write at once;
* ``leave`` — drop the form (nothing of it was stored).

Every step page carries the sealed form (``channels.web.session``) in its hidden field ``t`` and
the id of the question it asks. The site sets no cookie at any point; closing the page forgets an
unfinished form. The page that ends the form shows the receipt: from then on it is the only way back.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from hotline import languages
from hotline.cases.actions import ActionError
from hotline.channels.web import session as web
from hotline.core.flow import FlowError
from hotline.keyring.actions import is_set_up
from hotline.portal import content, limits
from hotline.portal.middleware import too_many
from hotline.portal.views.common import clean_field, from_elsewhere, problem, refused_elsewhere, render, speaks
from hotline.portal.views.unavailable import unavailable

log = logging.getLogger("hotline.portal")

ACTIONS: dict[str, web.Action] = {
    "answer": "answer",
    "back": "back",
    "skip": "skip",
    "person": "person",
    "show": "show",
}
MAX_ANSWER = 20_000  # far above any question's limit; the flow explains its own limit


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@speaks
def apply(request: HttpRequest, lang: str) -> HttpResponse:
    if request.method != "POST":
        return _start_page(request, lang)
    if from_elsewhere(request):
        return refused_elsewhere(request, lang)
    action = request.POST.get("action") or ("answer" if "value" in request.POST else "")
    try:
        if action == "start":
            return _start(request, lang)
        if action == "leave":
            return render(request, lang, "portal/apply_left.html", "apply")
        if action not in ACTIONS:
            return problem(request, lang, _("This form button is not known."), slug="apply")
        return _post(request, lang, action)
    except DatabaseError as exc:
        return unavailable(request, lang, exc)


def _start_page(request: HttpRequest, lang: str, status: int = 200) -> HttpResponse:
    doc, is_open = content.page(lang, "apply"), is_set_up()
    return _pages.get(
        ("start", lang, doc, is_open, status, languages.codes()),
        lambda: render(request, lang, "portal/apply_start.html", "apply", {"doc": doc, "open": is_open}, status=status),
        lang,
    )


def _start(request: HttpRequest, lang: str) -> HttpResponse:
    if not is_set_up():
        return _start_page(request, lang, status=503)
    wait = limits.get().admit_start(limits.client_key(request))
    if wait:
        return too_many(lang, wait)
    return _state_page(request, lang, web.start(lang))


def _post(request: HttpRequest, lang: str, action: str) -> HttpResponse:
    sealed = clean_field(request, web.FIELD, web.MAX_SEALED)
    step_id = clean_field(request, "step", 64)
    value = clean_field(request, "value", 64)
    text = clean_field(request, "text", MAX_ANSWER)
    if sealed is None or step_id is None or value is None or text is None:
        return problem(request, lang, _("The answer is far too long. Please shorten it."), status=413, slug="apply")
    if not sealed:
        return _ended_session(request, lang, status=400)
    try:
        state = web.step(sealed, lang, ACTIONS[action], step_id=step_id, value=value, text=text)
    except web.FormClosed as exc:
        log.info("portal: a form that does not open was posted (%s)", exc)
        return _ended_session(request, lang, status=400)
    except (ActionError, FlowError) as exc:
        log.warning("portal: a form step was refused (%s)", type(exc).__name__)
        return _ended_session(request, lang, status=409)
    return _state_page(request, lang, state)


def _state_page(request: HttpRequest, lang: str, state: web.FormState) -> HttpResponse:
    if state.ended is not None:
        if state.receipt is not None:
            template = "portal/apply_done.html" if state.ended == "finished" else "portal/apply_person.html"
            return _receipt_page(request, lang, template, state)
        if state.ended == "declined" and state.says:
            return render(request, lang, "portal/apply_declined.html", "apply", {"state": state})
        # sent before (the last page posted twice), or ended earlier: the receipt was shown once
        return _ended_session(request, lang)
    return _step_page(request, lang, state)


class _Pages:
    """Rendered form pages, kept per process, with a placeholder where the one personal value goes.

    A step page is the same for everyone at the same question (flow version, language, question, the
    explanation above it, Back or not); only the sealed form differs. The start page is the same for
    everyone (its text and whether applications are open are part of the key), and the page with the
    receipt differs only by the receipt. Rendering a template is most of what these requests would
    cost, so each distinct page is rendered once and the personal value is put into a copy. Nothing
    personal is kept: an explanation of a refused answer names limits and lengths, never the answer,
    and the receipt is rendered as a placeholder.
    """

    PLACEHOLDER = "hotline-personal-value-placeholder"
    LIMIT = 2048

    def __init__(self) -> None:
        self._pages: dict[tuple[object, ...], tuple[str, int]] = {}
        self._lock = threading.Lock()

    def get(
        self, key: tuple[object, ...], make: Callable[[], HttpResponse], lang: str, value: str | None = None
    ) -> HttpResponse:
        """The page ``make`` renders (once per key), with ``value`` where it put :attr:`PLACEHOLDER`."""
        with self._lock:
            cached = self._pages.get(key)
        if cached is None:
            response = make()
            cached = (response.content.decode(), response.status_code)
            with self._lock:
                if len(self._pages) >= self.LIMIT:
                    self._pages.clear()
                self._pages[key] = cached
        body, status = cached
        if value is not None:
            body = body.replace(self.PLACEHOLDER, value)
        response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
        response["Content-Language"] = lang
        return response


_pages = _Pages()


def _step_page(request: HttpRequest, lang: str, state: web.FormState) -> HttpResponse:
    ask, step = state.ask, state.step
    key = (
        "step",
        lang,
        state.flow.id,
        state.flow.version,
        ask.step if ask is not None else None,
        tuple(reply.text for reply in state.replies),
        state.can_go_back,
        state.stale,
        languages.codes(),  # the page links the other languages
    )
    context = {
        "state": state,
        "ask": ask,
        "step": step,
        "sealed": _Pages.PLACEHOLDER,
        "max_length": (step.max_length or 2000) if step is not None else 2000,
    }
    # The sealed form is URL-safe base64: nothing in it needs escaping.
    page = _pages.get(
        key, lambda: render(request, lang, "portal/apply_step.html", "apply", context), lang, state.sealed
    )
    return page


def _receipt_page(request: HttpRequest, lang: str, template: str, state: web.FormState) -> HttpResponse:
    """The page that ends the form with its receipt (the template shows nothing else of the form)."""
    assert state.receipt is not None
    blank = dataclasses.replace(state, receipt=_Pages.PLACEHOLDER, replies=[])
    return _pages.get(
        ("receipt", lang, template, languages.codes()),
        lambda: render(request, lang, template, "apply", {"state": blank}),
        lang,
        escape(state.receipt),
    )


def _ended_session(request: HttpRequest, lang: str, status: int = 200) -> HttpResponse:
    return render(request, lang, "portal/apply_ended.html", "apply", {}, status=status)
