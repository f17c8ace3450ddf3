"""The application form: the intake flow, one question per page, with JavaScript off.

``GET /apply/<lang>/`` shows where the applicant is (or the start page); ``POST`` with ``action``:

* ``start`` — issue the session cookie (the first cookie this site sets) and show the first question;
* ``answer`` (or a button named ``value``) — answer the current question; ``back``; ``skip``;
* ``person`` — hand over to an operator; the applicant gets a receipt and can write at once;
* ``leave`` — forget this browser's session (what was answered stays with the hotline).

Every post in a session carries the session's form token and the id of the question it answers: a
post from a page that is no longer current (a reload, a second tab) is shown the current question
instead of answering the wrong one. The page that ends the form shows the receipt and removes the
cookie: from then on the receipt is the only way back.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from hotline.cases.actions import ActionError
from hotline.channels.web import session as web
from hotline.core.flow import FlowError
from hotline.keyring.actions import is_set_up
from hotline.portal import content, limits
from hotline.portal.middleware import too_many
from hotline.portal.views.common import clean_field, from_elsewhere, problem, refused_elsewhere, render, speaks
from hotline.portal.views.unavailable import unavailable

log = logging.getLogger("hotline.portal")

COOKIE_PATH = "/apply/"
ACTIONS: dict[str, web.Action] = {"answer": "answer", "back": "back", "skip": "skip", "person": "person"}
MAX_ANSWER = 20_000  # far above any question's limit; the flow explains its own limit


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@speaks
def apply(request: HttpRequest, lang: str) -> HttpResponse:
    token = web.token_from_cookie(request.COOKIES.get(web.COOKIE))
    if request.method != "POST":
        return _show(request, lang, token)
    if from_elsewhere(request):
        return refused_elsewhere(request, lang)
    action = request.POST.get("action") or ("answer" if "value" in request.POST else "")
    try:
        if action == "start":
            return _start(request, lang, token)
        if action == "leave":
            return _forget(render(request, lang, "portal/apply_left.html", "apply"))
        if action not in ACTIONS:
            return problem(request, lang, _("This form button is not known."), slug="apply")
        return _post(request, lang, token, action)
    except DatabaseError as exc:
        return unavailable(request, lang, exc)


def _show(request: HttpRequest, lang: str, token: str | None) -> HttpResponse:
    if token is None:
        return _start_page(request, lang)
    try:
        state = web.current(token, lang)
    except FlowError:
        return _forget(_ended_session(request, lang))
    return _state_page(request, lang, token, state)


def _start_page(request: HttpRequest, lang: str, status: int = 200) -> HttpResponse:
    return render(
        request,
        lang,
        "portal/apply_start.html",
        "apply",
        {"doc": content.page(lang, "apply"), "open": is_set_up()},
        status=status,
    )


def _start(request: HttpRequest, lang: str, token: str | None) -> HttpResponse:
    if token is not None:  # already started in this browser: carry on where it is
        return _show(request, lang, token)
    if not is_set_up():
        return _start_page(request, lang, status=503)
    wait = limits.get().admit_start(limits.client_key(request))
    if wait:
        return too_many(lang, wait)
    token = web.new_token()
    response = _state_page(request, lang, token, web.current(None, lang))
    response.set_cookie(
        web.COOKIE,
        web.cookie_value(token),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def _post(request: HttpRequest, lang: str, token: str | None, action: str) -> HttpResponse:
    if token is None:
        return _forget(_ended_session(request, lang, status=400))
    if not web.form_token_ok(token, request.POST.get("t", "")):
        return problem(
            request, lang, _("This page is out of date. Open the form again to continue."), status=403, slug="apply"
        )
    step_id = clean_field(request, "step", 64)
    value = clean_field(request, "value", 64)
    text = clean_field(request, "text", MAX_ANSWER)
    if step_id is None or value is None or text is None:
        return problem(request, lang, _("The answer is far too long. Please shorten it."), status=413, slug="apply")
    try:
        state = web.step(token, lang, ACTIONS[action], step_id=step_id, value=value, text=text)
    except (ActionError, FlowError) as exc:
        log.warning("portal: a form step was refused (%s)", type(exc).__name__)
        return _forget(_ended_session(request, lang, status=409))
    return _state_page(request, lang, token, state)


def _state_page(request: HttpRequest, lang: str, token: str, state: web.FormState) -> HttpResponse:
    if state.ended is not None:
        if state.receipt is not None:
            template = "portal/apply_done.html" if state.ended == "finished" else "portal/apply_person.html"
        elif state.ended == "declined" and state.says:
            template = "portal/apply_declined.html"
        else:  # a session that ended earlier: its receipt was shown once and is not kept
            return _forget(_ended_session(request, lang))
        return _forget(render(request, lang, template, "apply", {"state": state}))
    step = state.step
    return render(
        request,
        lang,
        "portal/apply_step.html",
        "apply",
        {
            "state": state,
            "ask": state.ask,
            "step": step,
            "form_token": web.form_token(token),
            "max_length": (step.max_length or 2000) if step is not None else 2000,
        },
    )


def _ended_session(request: HttpRequest, lang: str, status: int = 200) -> HttpResponse:
    return render(request, lang, "portal/apply_ended.html", "apply", {}, status=status)


def _forget(response: HttpResponse) -> HttpResponse:
    response.delete_cookie(web.COOKIE, path=COOKIE_PATH, samesite="Strict")
    return response
