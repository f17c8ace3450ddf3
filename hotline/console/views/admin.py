"""Staff management (admins) and the console's own content: canned replies and tags (supervisors).
The website's pages and the knowledge base, beside them for admins, are in ``page_texts.py`` and
``articles.py``."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.models import STAFF_ROLES, User
from hotline.accounts.staff import StaffError, actor_of, do_add_staff, do_remove_staff, do_reset_access, do_set_role
from hotline.accounts.unlock import org_key_for
from hotline.cases import triage
from hotline.cases.actions import ActionError
from hotline.cases.models import CannedReply, Tag
from hotline.console.access import ADMINS, SEE_ALL, staff_view
from hotline.console.render import flash, page, problem
from hotline.console.views.queue import me
from hotline.core.lifecycle import OPEN

_OPEN = [s.value for s in OPEN]


def _staff_context(new_password: tuple[str, str] | None = None) -> dict[str, object]:
    enrolled = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    staff = User.objects.annotate(
        open_cases=Count("assigned_cases", filter=Q(assigned_cases__status__in=_OPEN))
    ).order_by("-is_active", "username")
    return {
        "staff": [(u, u.pk in enrolled) for u in staff],
        "roles": [r.value for r in STAFF_ROLES],
        "new_password": new_password,
    }


@staff_view(ADMINS)
@require_safe
def staff_list(request: HttpRequest) -> HttpResponse:
    return page(request, "console/staff.html", _staff_context())


@staff_view(ADMINS)
@require_POST
def staff_add(request: HttpRequest) -> HttpResponse:
    """Add a staff member; their one-time password is shown on this response only, never stored."""
    admin = me(request)
    try:
        user, password = do_add_staff(
            actor_of(admin), org_key_for(request), request.POST.get("username", ""), request.POST.get("role", "")
        )
    except StaffError as exc:
        return page(request, "console/staff.html", {**_staff_context(), "error": str(exc)}, status=400)
    return page(request, "console/staff.html", _staff_context((user.username, password)))


def _target(user_id: int) -> User:
    return get_object_or_404(User, pk=user_id)


@staff_view(ADMINS)
@require_POST
def staff_remove(request: HttpRequest, user_id: int) -> HttpResponse:
    target = _target(user_id)
    try:
        do_remove_staff(actor_of(me(request)), target)
    except StaffError as exc:
        return problem(request, str(exc))
    flash(
        request, _("%(name)s was removed: their key, authenticator and sessions are gone.") % {"name": target.username}
    )
    return HttpResponseRedirect(reverse("console:staff"))


@staff_view(ADMINS)
@require_POST
def staff_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    """A new one-time password and authenticator enrolment for someone locked out."""
    target = _target(user_id)
    try:
        password = do_reset_access(actor_of(me(request)), org_key_for(request), target)
    except StaffError as exc:
        return problem(request, str(exc))
    return page(request, "console/staff.html", _staff_context((target.username, password)))


@staff_view(ADMINS)
@require_POST
def staff_role(request: HttpRequest, user_id: int) -> HttpResponse:
    target = _target(user_id)
    try:
        do_set_role(actor_of(me(request)), target, request.POST.get("role", ""))
    except StaffError as exc:
        return problem(request, str(exc))
    flash(request, _("Role changed."))
    return HttpResponseRedirect(reverse("console:staff"))


# --- canned replies and tags ---------------------------------------------------------------------------


@staff_view(SEE_ALL)
@require_safe
def content(request: HttpRequest) -> HttpResponse:
    return page(
        request,
        "console/content.html",
        {"canned": CannedReply.objects.all(), "tags": Tag.objects.all(), "content_tab": "replies"},
    )


def _content_action(request: HttpRequest, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
    except ActionError as exc:
        return problem(request, str(exc))
    flash(request, done)
    return HttpResponseRedirect(reverse("console:content"))


@staff_view(SEE_ALL)
@require_POST
def canned_add(request: HttpRequest) -> HttpResponse:
    actor = actor_of(me(request))
    title, language, body = (request.POST.get(k, "") for k in ("title", "language", "body"))
    return _content_action(
        request,
        lambda: triage.do_save_canned_reply(actor, title=title, language=language, body=body),
        _("Canned reply saved."),
    )


@staff_view(SEE_ALL)
@require_POST
def canned_delete(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = get_object_or_404(CannedReply, pk=reply_id)
    actor = actor_of(me(request))
    return _content_action(request, lambda: triage.do_delete_canned_reply(actor, reply), _("Canned reply deleted."))


@staff_view(SEE_ALL)
@require_POST
def tag_add(request: HttpRequest) -> HttpResponse:
    actor = actor_of(me(request))
    name = request.POST.get("name", "")
    return _content_action(request, lambda: triage.do_create_tag(actor, name), _("Tag added."))


@staff_view(SEE_ALL)
@require_POST
def tag_delete(request: HttpRequest, tag_id: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=tag_id)
    actor = actor_of(me(request))
    return _content_action(request, lambda: triage.do_delete_tag(actor, tag), _("Tag deleted."))
