"""The phone line in the console: where I take calls, whether I am on duty, my notifications
(``views/notify.py``); for supervisors, who is on duty, the calls under way and the callback
requests waiting.

An operator's own number is shown to nobody, them included, beyond its last characters: it is typed
once and goes only to the voice provider. A caller's number is never on any page.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from hotline.cases.models import Case
from hotline.channels.voice import calls
from hotline.channels.voice.models import Call, Callback, OperatorLine
from hotline.console.access import CASEWORKERS, SEE_ALL, staff_view, workable_cases
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.notify.actions import settings_of

# A call the provider never reported as over is not shown as under way after this long.
STALE_AFTER = timedelta(hours=4)


@staff_view(CASEWORKERS)
@require_safe
def duty_page(request: HttpRequest) -> HttpResponse:
    return page(request, "console/duty.html", duty_context(request))


def duty_context(request: HttpRequest) -> dict[str, object]:
    """The Phone line page's content: my line, callbacks, my notifications; for supervisors, the duty."""
    user = me(request)
    line = OperatorLine.objects.filter(user=user).first()
    callbacks = (
        Callback.objects.filter(state__in=[Callback.State.REQUESTED, Callback.State.FAILED, Callback.State.CALLING])
        .filter(case__in=Case.objects.filter(workable_cases(user)))
        .select_related("case__number", "operator")
        .order_by("requested_at")[:100]
    )
    context: dict[str, object] = {
        "line": line,
        "callbacks": list(callbacks),
        "supervising": user.staff_role in SEE_ALL,
        "notify": settings_of(user),
    }
    if user.staff_role in SEE_ALL:
        context["on_duty"] = list(
            OperatorLine.objects.filter(on_duty=True, user__is_active=True)
            .select_related("user")
            .order_by("changed_at")
        )
        context["live_calls"] = list(
            Call.objects.exclude(state=Call.State.ENDED)
            .filter(started_at__gte=timezone.now() - STALE_AFTER)
            .select_related("answered_by", "case__number")
            .order_by("started_at")[:200]
        )
    return context


@staff_view(CASEWORKERS)
@require_POST
def duty_line(request: HttpRequest) -> HttpResponse:
    address = request.POST.get("address", "")
    if not address.strip() or len(address) > 320:
        return problem(request, _("Give the phone number (+380…) or SIP address (sip:name@host) where you take calls."))
    try:
        calls.do_set_line(me(request), address)
    except calls.VoiceError as exc:
        return problem(request, str(exc))
    flash(request, _("Your line is saved."))
    return HttpResponseRedirect(reverse("console:duty"))


@staff_view(CASEWORKERS)
@require_POST
def duty_toggle(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("on_duty", "")
    if wanted not in ("0", "1"):
        return problem(request, _("Say whether you are on duty."))
    try:
        calls.do_set_duty(me(request), wanted == "1")
    except calls.VoiceError as exc:
        return problem(request, str(exc))
    flash(request, _("You are on duty: calls ring your line.") if wanted == "1" else _("You are off duty."))
    return HttpResponseRedirect(reverse("console:duty"))
