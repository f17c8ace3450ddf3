"""The case page and everything done from it. Views validate and call actions; they never save.

Every case is reached through ``access_case_by_id`` (404 for "no such case" and "not yours" alike).
Form posts redirect back to the case page (post/redirect/get), so a reload never repeats an action.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.accounts.unlock import org_key_for
from hotline.cases import triage
from hotline.cases.actions import (
    MAX_TEXT,
    ActionError,
    do_add_message,
    do_add_note,
    do_assign,
    do_set_priority,
    do_transition,
)
from hotline.cases.content import do_read_case
from hotline.cases.models import CannedReply, Case, CaseTag, ChannelIdentity, Tag
from hotline.channels.voice import calls
from hotline.channels.voice.models import Callback
from hotline.console import timeline
from hotline.console.access import (
    CASEWORKERS,
    SEE_ALL,
    access_attachment_by_id,
    access_case_by_id,
    access_case_by_number,
    can_work_case,
    case_number,
    may_read_audit_log,
    may_reassign,
    may_set_priority,
    staff_view,
)
from hotline.console.labels import PRIORITY_REASON_LABELS, label
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.core import crypto
from hotline.core.flow import Flow, FlowError
from hotline.core.lifecycle import RejectReason, Role, Status, TransitionError, allowed_targets
from hotline.core.metadata import PRIORITY_ORDER, ChannelKind, DeliveryState, Direction, Priority, PriorityReason
from hotline.flows import registry
from hotline.flows.runner import INTAKE
from hotline.inputs import INT64_MAX, parse_int
from hotline.kb.reading import reply_articles

_REFUSALS = (ActionError, TransitionError)


def _back(case: Case, anchor: str = "") -> HttpResponse:
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]) + anchor)


def _run(request: HttpRequest, case: Case, action: Callable[[], object], done: str) -> HttpResponse:
    """Run an action; a refusal becomes a 400 that says why (the case is unchanged)."""
    try:
        action()
    except _REFUSALS as exc:
        return problem(request, str(exc), status=400)
    flash(request, done)
    return _back(case)


def reply_channels(case: Case) -> list[str]:
    """Where a reply can go: the channel the case came in on, then the applicant's other channels.
    A phone call cannot be written to, so phone is never offered."""
    kinds = [case.channel]
    if case.applicant_id:
        kinds += list(ChannelIdentity.objects.filter(applicant_id=case.applicant_id).values_list("kind", flat=True))
    unique = list(dict.fromkeys(kinds))
    return [k for k in unique if k != ChannelKind.PHONE]


def _assignable() -> list[User]:
    roles = [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN]
    return list(User.objects.filter(is_active=True, role__in=roles).order_by("username"))


def _canned_for(case: Case) -> list[CannedReply]:
    replies = list(CannedReply.objects.all())
    return sorted(replies, key=lambda r: (r.language != case.language, r.language, r.title))


def intake_flow() -> Flow | None:
    """The intake flow that words the answers; without it (a broken flow file) they show as stored."""
    try:
        return registry.current(INTAKE)
    except (FlowError, OSError):
        return None


def _preference_shown(recorded: str) -> str:
    """The recorded after-surrender preference in words (``exchange: to Voronezh`` keeps its detail)."""
    choice, sep, detail = recorded.partition(": ")
    if choice not in triage.PREFERENCES:
        return recorded
    return f"{label(choice)}{sep}{detail}"


@staff_view(CASEWORKERS)
@require_safe
def case_page(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_case_by_id(user, case_id)
    if case.is_shredded:
        return page(request, "console/case_erased.html", {"case": case}, status=410)
    org_key = org_key_for(request)
    try:
        content = do_read_case(actor_of(user), case, org_key)
        entries = timeline.build(case, content, org_key, intake_flow())
    except crypto.DecryptionError:
        return problem(request, _("This case's content does not decrypt: it may have been tampered with."), status=409)
    status = Status(case.status)
    group = triage.group_of(case)
    context = {
        "case": case,
        "number": case.number.id if hasattr(case, "number") else None,
        "entries": entries,
        "audit_link": may_read_audit_log(user),
        "transitions": [t.value for t in allowed_targets(status, user.staff_role) if t != Status.REJECTED],
        "may_flag": Status.REJECTED in allowed_targets(status, user.staff_role),
        "may_reassign": may_reassign(user),
        "assignable": _assignable() if may_reassign(user) else [],
        "all_tags": list(Tag.objects.all()),
        "case_tags": set(CaseTag.objects.filter(case=case).values_list("tag_id", flat=True)),
        "group": [(c, can_work_case(user, c)) for c in group],
        "blocked": triage.is_blocked(case),
        "may_unblock": user.staff_role in SEE_ALL,
        "canned": _canned_for(case),
        "articles": reply_articles(case.language) if case.language else [],
        "channels": reply_channels(case),
        "preferences": triage.PREFERENCES,
        "preference": _preference_shown(content.answers.get(triage.PREFERENCE_FIELD, "")),
        "reasons": [r.value for r in RejectReason],
        "max_text": MAX_TEXT,
        "callbacks": list(Callback.objects.filter(case=case).select_related("operator").order_by("-requested_at")),
        "may_set_priority": may_set_priority(user, case),
        "priorities": [p.value for p in reversed(PRIORITY_ORDER)],
        "priority_reasons": [(r.value, PRIORITY_REASON_LABELS[r.value]) for r in PriorityReason],
    }
    return page(request, "console/case.html", context)


class ReplyForm(forms.Form):
    body = forms.CharField(max_length=MAX_TEXT)
    channel = forms.CharField(max_length=16)
    then_wait = forms.BooleanField(required=False)


@staff_view(CASEWORKERS)
@require_POST
def reply(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Queue a reply to the applicant; the outbox delivers it on the chosen channel."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return problem(request, _("A reply needs a text (at most %(n)s characters).") % {"n": MAX_TEXT})
    channel = form.cleaned_data["channel"]
    if channel not in reply_channels(case):
        return problem(request, _("This applicant cannot be reached on that channel."))
    actor = actor_of(user)
    try:
        message = do_add_message(
            actor,
            case,
            direction=Direction.OUTBOUND,
            channel=ChannelKind(channel),
            body=form.cleaned_data["body"],
            author=user,
        )
        if form.cleaned_data["then_wait"] and Status.WAITING in allowed_targets(Status(case.status), user.staff_role):
            do_transition(actor, case, Status.WAITING)
    except _REFUSALS as exc:
        return problem(request, str(exc))
    if message.delivery_state == DeliveryState.FAILED:
        flash(request, _("The reply is saved on the case, but the applicant cannot be reached on this channel now."))
    else:
        flash(request, _("Reply queued for delivery."))
    return _back(case)


@staff_view(CASEWORKERS)
@require_POST
def note(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_case_by_id(user, case_id)
    body = request.POST.get("body", "")
    if not body.strip() or len(body) > MAX_TEXT:
        return problem(request, _("A note needs a text (at most %(n)s characters).") % {"n": MAX_TEXT})
    return _run(request, case, lambda: do_add_note(actor_of(user), case, body, author=user), _("Note added."))


@staff_view(CASEWORKERS)
@require_POST
def priority(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Raise or lower the case's priority, for a reason chosen from the fixed list (no free text: the
    reason is kept in clear in the audit log)."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    if not may_set_priority(user, case):
        return problem(request, _("A finished case keeps its priority."))
    try:
        wanted = Priority(request.POST.get("priority", ""))
    except ValueError:
        return problem(request, _("Choose a priority: normal, high or urgent."))
    given = request.POST.get("reason", "")
    if not given:
        return problem(request, _("Say why the priority changes: choose a reason from the list."))
    try:
        reason = PriorityReason(given)
    except ValueError:
        return problem(request, _("Unknown reason: choose one from the list."))
    return _run(request, case, lambda: do_set_priority(actor_of(user), case, wanted, reason), _("Priority changed."))


@staff_view(CASEWORKERS)
@require_POST
def transition(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_case_by_id(user, case_id)
    try:
        target = Status(request.POST.get("to", ""))
    except ValueError:
        return problem(request, _("Unknown status."))
    if target == Status.REJECTED:
        return problem(request, _("Use “Flag as probe or spam” to reject a case."))
    return _run(request, case, lambda: do_transition(actor_of(user), case, target), _("Status changed."))


@staff_view(CASEWORKERS)
@require_POST
def assign(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Assign to oneself (keyboard: a), to nobody, or — supervisors and admins — to anyone."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    raw = request.POST.get("assignee", "")
    if raw == "me":
        assignee: User | None = user
    elif raw == "":
        assignee = None
    elif (pk := parse_int(raw, minimum=1, maximum=INT64_MAX)) is not None:
        assignee = User.objects.filter(pk=pk).first()
        if assignee is None:
            return problem(request, _("There is no such staff member."))
    else:
        return problem(request, _("Choose who gets the case."))
    if not may_reassign(user) and case.assignee_id not in (None, user.pk):
        return problem(request, _("Only supervisors reassign a case someone else holds."), status=403)
    return _run(request, case, lambda: do_assign(actor_of(user), case, assignee), _("Assignment changed."))


@staff_view(CASEWORKERS)
@require_POST
def tags(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_case_by_id(user, case_id)
    given = [parse_int(t, minimum=1, maximum=INT64_MAX) for t in request.POST.getlist("tag")]
    wanted = {pk for pk in given if pk is not None}
    if len(wanted) != len(set(given)):
        return problem(request, _("Unknown tag."))
    chosen = list(Tag.objects.filter(pk__in=wanted))
    if len(chosen) != len(wanted):
        return problem(request, _("Unknown tag."))
    return _run(request, case, lambda: triage.do_set_tags(actor_of(user), case, chosen), _("Tags saved."))


@staff_view(CASEWORKERS)
@require_POST
def link(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Link with another application (by its number) whose applicant will surrender together."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    number = case_number(request.POST.get("number", ""))
    if number is None:
        return problem(request, _("An application number is digits only, like 1042."))
    other = access_case_by_number(user, number)
    return _run(request, case, lambda: triage.do_link_cases(actor_of(user), case, other), _("Cases linked."))


@staff_view(CASEWORKERS)
@require_POST
def unlink(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = me(request)
    case = access_case_by_id(user, case_id)
    return _run(request, case, lambda: triage.do_unlink_case(actor_of(user), case), _("Case taken out of its group."))


@staff_view(CASEWORKERS)
@require_POST
def flag(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Reject as a probe or spam and block the sender; their later messages are quarantined."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    try:
        reason = RejectReason(request.POST.get("reason", ""))
    except ValueError:
        return problem(request, _("Say whether this is a probe or spam."))
    return _run(
        request, case, lambda: triage.do_flag(actor_of(user), case, reason), _("Case flagged; the sender is blocked.")
    )


@staff_view(SEE_ALL)
@require_POST
def unblock(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Lift a block that was a mistake (supervisors and admins review flags)."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    return _run(request, case, lambda: triage.do_unblock(actor_of(user), case), _("The sender is no longer blocked."))


@staff_view(CASEWORKERS)
@require_POST
def preference(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Record what the person wants after surrender (sealed, like every answer)."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    choice = request.POST.get("choice", "")
    detail = request.POST.get("detail", "")
    if choice not in triage.PREFERENCES or len(detail) > 2000:
        return problem(request, _("Choose one of the listed preferences (details: at most 2000 characters)."))
    return _run(
        request, case, lambda: triage.do_set_preference(actor_of(user), case, choice, detail), _("Preference recorded.")
    )


@staff_view(CASEWORKERS)
@require_POST
def callback(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Call the applicant back: the provider rings my line first, then bridges the applicant, with the
    hotline's number as caller id. Their number never reaches this page or my phone."""
    user = me(request)
    case = access_case_by_id(user, case_id)
    try:
        wanted = uuid.UUID(request.POST.get("callback", ""))
    except ValueError:
        return problem(request, _("Choose a callback request of this case."))
    found = Callback.objects.filter(pk=wanted, case=case).first()
    if found is None:
        return problem(request, _("Choose a callback request of this case."), status=404)
    try:
        calls.do_start_callback(user, found)
    except calls.VoiceError as exc:
        return problem(request, str(exc))
    flash(request, _("Your phone will ring now; when you answer, the applicant is called."))
    return _back(case)


@staff_view(CASEWORKERS)
@require_safe
def attachment(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponse:
    """A file from the applicant, decrypted in memory and sent with ``no-store``; never written to disk.

    Pictures and sound the browser can show are sent inline under a sandboxing policy; anything else
    (and anything claiming to be SVG or HTML) is a download of opaque bytes.
    """
    user = me(request)
    found = access_attachment_by_id(user, attachment_id)
    if found.message.case.is_shredded:
        return problem(request, _("This case has been erased."), status=410)
    try:
        meta, content = triage.do_read_attachment(actor_of(user), found, org_key_for(request))
    except crypto.DecryptionError:
        return problem(request, _("This file does not decrypt: it may have been tampered with."), status=409)
    inline = meta.mime in timeline.INLINE_IMAGES | timeline.INLINE_AUDIO and request.GET.get("download") != "1"
    response = HttpResponse(content, content_type=meta.mime if inline else "application/octet-stream")
    name = "".join(ch for ch in meta.filename if ch.isalnum() or ch in "._-")[:80] or f"attachment-{found.pk}"
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{name}"'
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    return response
