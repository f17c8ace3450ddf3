"""Notifications in the console: the switches (on the Phone line page), linking a Telegram account,
and the counts an open console polls for. Nothing here carries content, a name or a case number."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from hotline import qr
from hotline.console.access import CASEWORKERS, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.duty import duty_context
from hotline.console.views.queue import me
from hotline.inputs import parse_int
from hotline.notify import actions, signals

# Cursors are microseconds since 1970: up to the year 2100 or so.
MAX_CURSOR = 4_102_444_800_000_000
SWITCH = {"": False, "1": True}


@staff_view(CASEWORKERS)
@require_safe
def notify_counts(request: HttpRequest) -> HttpResponse:
    """``{"cursor", "new_cases", "new_messages", "over_target"}`` since ``?since=CURSOR``.

    Without a cursor (a console just opened) the counts are 0 and the answer only gives one. With the
    console's notifications off, every count is 0.
    """
    since_text = request.GET.get("since", "")
    since = None
    if since_text:
        micros = parse_int(since_text, minimum=0, maximum=MAX_CURSOR)
        if micros is None:
            return JsonResponse({"error": "since must be a cursor this endpoint gave"}, status=400)
        since = signals.decode_cursor(micros)
    until = signals.horizon(timezone.now())
    counts = signals.Counts()
    user = me(request)
    if since is not None and actions.settings_of(user).in_console:
        counts = signals.counts_for(user, signals.window_start(since, until), until)
    return JsonResponse({"cursor": signals.encode_cursor(until), **counts.as_dict()})


@staff_view(CASEWORKERS)
@require_POST
def notify_settings(request: HttpRequest) -> HttpResponse:
    in_console = request.POST.get("in_console", "")
    by_telegram = request.POST.get("by_telegram", "")
    if in_console not in SWITCH or by_telegram not in SWITCH:
        return problem(request, _("A notification switch is either on or off."))
    try:
        actions.do_set_preferences(
            me(request), in_console=SWITCH[in_console], by_telegram=SWITCH[by_telegram], language=get_language()
        )
    except actions.NotifyError as exc:
        return problem(request, str(exc))
    flash(request, _("Your notification settings are saved."))
    return HttpResponseRedirect(reverse("console:duty") + "#notifications")


@staff_view(CASEWORKERS)
@require_POST
def notify_link(request: HttpRequest) -> HttpResponse:
    """Show a one-time code to send to the bot. It is shown in this answer only, never stored."""
    try:
        code = actions.do_start_telegram_link(me(request))
    except actions.NotifyError as exc:
        return problem(request, str(exc))
    context = duty_context(request)
    context["link_code"] = code
    context["link_minutes"] = int(actions.LINK_CODE_LIFETIME.total_seconds() // 60)
    if settings.TELEGRAM_BOT_USERNAME:
        # Telegram's deep link: opening it in the app sends the bot "/start CODE" from that account.
        url = f"https://t.me/{settings.TELEGRAM_BOT_USERNAME}?start={code}"
        context["link_url"] = url
        context["link_qr"] = qr.svg(url, label=_("QR code that opens the bot with your link code"))
        context["link_bot"] = settings.TELEGRAM_BOT_USERNAME
    return page(request, "console/duty.html", context)


@staff_view(CASEWORKERS)
@require_POST
def notify_unlink(request: HttpRequest) -> HttpResponse:
    actions.do_unlink_telegram(me(request))
    flash(request, _("Your Telegram account is no longer linked."))
    return HttpResponseRedirect(reverse("console:duty") + "#notifications")
