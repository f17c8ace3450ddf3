"""The handoff: what a coordinator needs to receive a person, and nothing more.

The list and the page show application number, category, region, group size, language, the linked
applications and the intake answers named in :data:`HANDOFF_FIELDS`, worded as the case page words
them (the flow's questions and options in the reader's language). They never show the channel,
the messages, the notes or the dates, so nothing in a handoff says how the case began.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from hotline.accounts.staff import actor_of
from hotline.accounts.unlock import org_key_for
from hotline.cases import triage
from hotline.cases.actions import ActionError
from hotline.cases.content import do_read_case
from hotline.cases.models import Case, HandoffOutcome
from hotline.console.access import HANDOFF, HANDOFF_STATES, access_handoff_case_by_id, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.timeline import worded_answers
from hotline.console.views.case import intake_flow
from hotline.console.views.queue import me
from hotline.core import crypto
from hotline.core.lifecycle import Status, TransitionError

# Intake answers a coordinator needs to receive someone (flow step ids). Everything else stays with
# the operators: a new flow field reaches the handoff only by being named here.
HANDOFF_FIELDS = (
    "identity",
    "relative_identity",
    "situation",
    "relative_situation",
    "safe_contact",
    triage.PREFERENCE_FIELD,
)
LIST_SIZE = 200

_OUTCOMES_BY_STATUS = {
    Status.READY: [HandoffOutcome.Outcome.ACCEPTED, HandoffOutcome.Outcome.RETURNED],
    Status.HANDED_OFF: [HandoffOutcome.Outcome.COMPLETED, HandoffOutcome.Outcome.FAILED],
}


@staff_view(HANDOFF)
@require_safe
def handoff_list(request: HttpRequest) -> HttpResponse:
    """Cases ready for handoff and those handed off awaiting an outcome, oldest first."""
    cases = {
        status: list(
            Case.objects.filter(status=status, sealed_private_key__isnull=False)
            .select_related("number")
            .order_by("created_at")[:LIST_SIZE]
        )
        for status in (Status.READY, Status.HANDED_OFF)
    }
    return page(
        request, "console/handoff_list.html", {"ready": cases[Status.READY], "handed_off": cases[Status.HANDED_OFF]}
    )


@staff_view(HANDOFF)
@require_safe
def handoff_case(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_handoff_case_by_id(user, case_id)
    try:
        content = do_read_case(actor_of(user), case, org_key_for(request))
    except crypto.DecryptionError:
        return problem(request, _("This case's content does not decrypt: it may have been tampered with."), status=409)
    needed = {name: content.answers[name] for name in HANDOFF_FIELDS if name in content.answers}
    answers = worded_answers(intake_flow(), needed)
    group = [c for c in triage.group_of(case) if Status(c.status) in HANDOFF_STATES]
    context = {
        "case": case,
        "answers": answers,
        "group": group,
        "outcomes": [o.value for o in _OUTCOMES_BY_STATUS.get(Status(case.status), [])],
    }
    return page(request, "console/handoff_case.html", context)


@staff_view(HANDOFF)
@require_POST
def handoff_outcome(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Record the outcome; the case moves on (handed off, back to operators, completed or closed)."""
    user = me(request)
    case = access_handoff_case_by_id(user, case_id)
    outcome = request.POST.get("outcome", "")
    if outcome not in _OUTCOMES_BY_STATUS.get(Status(case.status), []):
        return problem(request, _("That outcome does not fit this case now."))
    try:
        triage.do_record_handoff(actor_of(user), case, outcome)
    except (ActionError, TransitionError) as exc:
        return problem(request, str(exc))
    flash(request, _("Outcome recorded."))
    if outcome == HandoffOutcome.Outcome.ACCEPTED:
        return HttpResponseRedirect(reverse("console:handoff_case", args=[case.pk]))
    return HttpResponseRedirect(reverse("console:handoff"))
