"""Who may see and do what in the console: every access decision is made here.

Role rules (docs/console.md has the same table in words):

* operators work unassigned open cases and the cases assigned to them (open or finished);
* supervisors and admins see every case;
* coordinators see only cases that are ``ready`` or ``handed_off``, and only through the handoff view;
* analysts see no case at all, only aggregate counts.

A case that exists but is not yours raises the same ``Http404`` as a case that does not exist, so the
console never confirms that an application number or id is in use. A page your role does not use at
all is a plain 403.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from hotline.accounts.models import User
from hotline.accounts.unlock import forget, is_unlocked
from hotline.cases.models import Attachment, Case
from hotline.core.lifecycle import OPEN, Role, Status
from hotline.inputs import parse_int
from hotline.news.broadcasts import PUBLISHERS
from hotline.news.models import Broadcast, Post

CASEWORKERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
SEE_ALL = frozenset({Role.SUPERVISOR, Role.ADMIN})
HANDOFF = frozenset({Role.COORDINATOR, Role.SUPERVISOR, Role.ADMIN})
FIGURES = frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
ANY_STAFF = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.COORDINATOR, Role.ANALYST, Role.ADMIN})
HANDOFF_STATES = frozenset({Status.READY, Status.HANDED_OFF})
# Application numbers as staff type them: at most 12 digits.
MAX_CASE_NUMBER = 999_999_999_999
# The longest address to come back to after signing in: Django will not redirect to more than
# 16,384 characters (it answers 400 and logs a traceback), and no page of the console needs 2,000.
MAX_NEXT = 2000
_OPEN = [s.value for s in OPEN]

View = TypeVar("View", bound=Callable[..., HttpResponse])

# --- cases --------------------------------------------------------------------------------------------


def can_work_case(user: User, case: Case) -> bool:
    """The case page rule: one condition per line, first match wins."""
    role = user.staff_role
    if role in SEE_ALL:
        return True
    if role != Role.OPERATOR:
        return False
    if case.assignee_id == user.pk:
        return True
    return case.assignee_id is None and Status(case.status) in OPEN


def workable_cases(user: User) -> Q:
    """The same rule as :func:`can_work_case`, as a filter for lists (the queue)."""
    role = user.staff_role
    if role in SEE_ALL:
        return Q()
    if role != Role.OPERATOR:
        return Q(pk__in=[])
    return Q(assignee=user) | Q(assignee__isnull=True, status__in=_OPEN)


def access_case_by_id(user: User, case_id: uuid.UUID | str) -> Case:
    """The case for the case page, or 404 — for "no such case" and "not yours" alike."""
    case = Case.objects.filter(pk=case_id).select_related("assignee", "number").first()
    if case is None:
        raise Http404
    if not can_work_case(user, case):
        raise Http404
    return case


def case_number(text: str) -> int | None:
    """An application number as typed ("1042" or "#1042"), or None if it is not one."""
    return parse_int(text.strip().removeprefix("#"), minimum=1, maximum=MAX_CASE_NUMBER)


def access_case_by_number(user: User, number: int) -> Case:
    """The case with application number ``number``, under the same rule as :func:`access_case_by_id`."""
    if not 1 <= number <= MAX_CASE_NUMBER:
        raise Http404
    case = Case.objects.filter(number__id=number).select_related("assignee", "number").first()
    if case is None:
        raise Http404
    if not can_work_case(user, case):
        raise Http404
    return case


def access_handoff_case_by_id(user: User, case_id: uuid.UUID | str) -> Case:
    """A case as a coordinator sees it: only while it is ready or handed off, and not erased."""
    case = Case.objects.filter(pk=case_id).select_related("number").first()
    if case is None:
        raise Http404
    if user.staff_role not in HANDOFF:
        raise Http404
    if Status(case.status) not in HANDOFF_STATES:
        raise Http404
    if case.is_shredded:
        raise Http404
    return case


def access_attachment_by_id(user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """An attachment, if its case passes :func:`can_work_case`."""
    attachment = Attachment.objects.filter(pk=attachment_id).select_related("message__case").first()
    if attachment is None:
        raise Http404
    if not can_work_case(user, attachment.message.case):
        raise Http404
    return attachment


PRIORITY_SETTERS = CASEWORKERS


def may_set_priority(user: User, case: Case) -> bool:
    """Raising or lowering a case's priority: for operators, supervisors and admins who may work the
    case, while it is open (a finished case keeps the priority it had)."""
    if user.staff_role not in PRIORITY_SETTERS:
        return False
    if not can_work_case(user, case):
        return False
    return Status(case.status) in OPEN and not case.is_shredded


def may_reassign(user: User) -> bool:
    """Operators take cases for themselves; supervisors and admins assign anyone."""
    return user.staff_role in SEE_ALL


def may_read_audit_log(user: User) -> bool:
    """The audit log page (every event of every object) is for admins, as its view declares."""
    return user.staff_role in ADMINS


# --- posts and broadcasts --------------------------------------------------------------------------------


def access_post_by_id(user: User, post_id: uuid.UUID | str) -> Post:
    """A post, for those who publish (supervisors and admins); 404 if there is none."""
    if user.staff_role not in PUBLISHERS:
        raise Http404
    post = Post.objects.filter(pk=post_id).first()
    if post is None:
        raise Http404
    return post


def access_broadcast_by_id(user: User, broadcast_id: uuid.UUID | str) -> Broadcast:
    if user.staff_role not in PUBLISHERS:
        raise Http404
    broadcast = Broadcast.objects.filter(pk=broadcast_id).select_related("post").first()
    if broadcast is None:
        raise Http404
    return broadcast


# --- pages ------------------------------------------------------------------------------------------------


def _to_login(request: HttpRequest) -> HttpResponse:
    target = reverse("accounts:login")
    back = request.get_full_path()
    if request.method == "GET" and not request.headers.get("HX-Request") and len(back) <= MAX_NEXT:
        target += "?" + urlencode({"next": back})
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=200)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


def signed_in_user(request: HttpRequest) -> User | None:
    """The staff member behind ``request`` if they passed password *and* TOTP, else None."""
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return None
    if not user.is_verified():  # type: ignore[attr-defined]  # set by django_otp's middleware
        return None
    return user


def staff_view(roles: frozenset[Role], *, allow_pending_password: bool = False) -> Callable[[View], View]:
    """Gate a view: signed in with TOTP, session unlocked, password changed, role allowed.

    A session whose unlock cookie is missing or does not open its key is signed out: it cannot read
    anything, so it must not be able to do anything either. The roles are kept on the view as
    ``allowed_roles`` for the authorization matrix test.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = signed_in_user(request)
            if user is None:
                return _to_login(request)
            if not is_unlocked(request):
                logout(request)
                request.session["flash"] = [_("Your session was locked. Sign in again.")]
                response = _to_login(request)
                forget(response)
                return response
            if user.must_change_password and not allow_pending_password:
                return HttpResponseRedirect(reverse("accounts:password"))
            if user.staff_role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def public_view(view: View) -> View:
    """Mark a view anyone may reach (sign-in pages), so the matrix test knows it was meant."""
    view.allowed_roles = "public"  # type: ignore[attr-defined]
    return view
