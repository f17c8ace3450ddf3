"""Phone intake: an operator taking a call runs the intake flow on the caller's behalf.

The same flow file as the bot drives a form, one question at a time; the operator reads each question
out and enters the answer. The caller is a channel identity of kind ``phone``: their number if they
give one (so a later call from it finds them), otherwise a random call reference. At the end the page
shows the receipt once, to be read back to the caller. An existing applicant (by receipt or
application number) gets a call summary on their case instead.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hotline import languages
from hotline.accounts.staff import actor_of
from hotline.cases import actions
from hotline.cases.models import Case, ChannelIdentity
from hotline.console.access import CASEWORKERS, access_case_by_number, can_work_case, case_number, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.core import codes
from hotline.core import flow as engine
from hotline.core.metadata import ChannelKind, Direction
from hotline.flows import registry, runner

_REPLIES = "phone_replies"


def _call_identity(identity_id: uuid.UUID) -> ChannelIdentity:
    """A phone identity with a running or finished intake; 404 for anything else."""
    identity = ChannelIdentity.objects.filter(pk=identity_id, kind=ChannelKind.PHONE).first()
    if identity is None or runner.load_session(identity, lock=False)[1] is None:
        raise Http404
    return identity


def _remember(request: HttpRequest, identity: ChannelIdentity, replies: list[runner.Reply]) -> None:
    """What the flow said before its next question (flow texts only, never answers)."""
    said = [r.text for r in replies if r.step is None]
    request.session[f"{_REPLIES}:{identity.pk}"] = said[-5:]


@staff_view(CASEWORKERS)
@require_safe
def phone_home(request: HttpRequest) -> HttpResponse:
    return page(request, "console/phone.html", {"languages": languages.choices()})


@staff_view(CASEWORKERS)
@require_POST
def phone_start(request: HttpRequest) -> HttpResponse:
    """Begin a new application for the caller on the line."""
    language = request.POST.get("language", "")
    if language not in languages.codes():
        return problem(request, _("Choose one of the offered languages."))
    number = request.POST.get("phone", "").strip()
    address = number or f"call-{secrets.token_urlsafe(16)}"
    try:
        with transaction.atomic():
            identity = actions.get_or_create_identity(ChannelKind.PHONE, address)
            result = runner.run_step(
                identity,
                engine.Start(language=language),
                channel=ChannelKind.PHONE,
                actor=actor_of(me(request)),
                restart=True,
            )
    except actions.ActionError as exc:
        return problem(request, str(exc))
    _remember(request, identity, result.replies)
    return HttpResponseRedirect(reverse("console:phone_step", args=[identity.pk]))


@staff_view(CASEWORKERS)
@require_http_methods(["GET", "POST"])
def phone_step(request: HttpRequest, identity_id: uuid.UUID) -> HttpResponse:
    identity = _call_identity(identity_id)
    if request.method == "POST":
        return _answer(request, identity)
    _, session = runner.load_session(identity, lock=False)
    assert session is not None
    context: dict[str, Any] = {"identity": identity, "said": request.session.get(f"{_REPLIES}:{identity.pk}", [])}
    if session.status == "active" and session.step is not None:
        flow = registry.version(session.flow_id, session.flow_version)
        step = flow.steps[session.step]
        context["step"] = step
        context["can_go_back"] = bool(session.history)  # not on the first question, nor back past consent
        context["question"] = step.text.get(session.language) or next(iter(step.text.values()))
        context["options"] = [(o.value, o.label.get(session.language, o.value)) for o in step.options]
    else:
        context["finished"] = True
        context["case"] = Case.objects.filter(applicant_id=identity.applicant_id).order_by("-created_at").first()
    return page(request, "console/phone_step.html", context)


def _input_from(request: HttpRequest) -> object:
    action = request.POST.get("action", "answer")
    if action == "back":
        return engine.Back()
    if action == "skip":
        return engine.Skip()
    if action == "person":
        return engine.TalkToPerson()
    if "choice" in request.POST:
        return engine.Choose(request.POST["choice"], step=request.POST.get("step") or None)
    return engine.Text(request.POST.get("answer", ""))


def _answer(request: HttpRequest, identity: ChannelIdentity) -> HttpResponse:
    with transaction.atomic():
        result = runner.run_step(identity, _input_from(request), channel=ChannelKind.PHONE, actor=actor_of(me(request)))
    _remember(request, identity, result.replies)
    if result.receipt is not None:
        # Shown once, here, to be read to the caller; it is stored nowhere but as a blind index.
        return page(request, "console/phone_receipt.html", {"receipt": result.receipt, "case": result.case})
    return HttpResponseRedirect(reverse("console:phone_step", args=[identity.pk]))


@staff_view(CASEWORKERS)
@require_POST
def phone_log(request: HttpRequest) -> HttpResponse:
    """A call from someone who already applied: find their case, add the call summary to it."""
    reference = request.POST.get("reference", "").strip()
    summary = request.POST.get("summary", "").strip()
    if not reference or not summary:
        return problem(request, _("Give the receipt or the application number, and a summary of the call."))
    user = me(request)
    number = case_number(reference)
    if number is not None:
        case = access_case_by_number(user, number)
    else:
        try:
            found = actions.find_case_by_receipt(reference)
        except codes.CodeError as exc:
            return problem(request, _("That receipt does not look right: %(reason)s.") % {"reason": exc})
        if found is None:
            return problem(request, _("No application has this receipt."), status=404)
        # The caller proved who they are with the receipt: the summary goes on their case even if it
        # is another operator's (it is written, not shown).
        case = found
    try:
        actions.do_add_message(
            actor_of(user), case, direction=Direction.INBOUND, channel=ChannelKind.PHONE, body=summary, author=user
        )
    except actions.ActionError as exc:
        return problem(request, str(exc))
    if can_work_case(user, case):
        return HttpResponseRedirect(reverse("console:case", args=[case.pk]))
    flash(request, _("The call summary was added to the caller's application."))
    return HttpResponseRedirect(reverse("console:phone"))
