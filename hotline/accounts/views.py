"""Signing in (password, then TOTP or first-time enrolment), signing out, changing one's password.

Sign-in, step by step:
1. count the attempt, or refuse it at once (429) while a throttle applies — no password hashing for a
   throttled attempt, and parallel attempts are counted like sequential ones;
2. check the password, then the TOTP code (once only); a pass gives the attempt back;
3. unwrap the organisation key with the password and stash it (ciphertext in the session, key in an
   HttpOnly cookie — ``accounts/unlock.py``);
4. a staff member without a TOTP device enrols one first (QR code), then signs in;
5. ``login()`` gives the browser a new session id, so a session id planted before sign-in is useless.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, logout, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts import throttle, totp
from hotline.accounts.middleware import SIGNED_IN_AT
from hotline.accounts.models import User
from hotline.accounts.sessions import end_sessions
from hotline.accounts.staff import StaffError, actor_of, do_change_password
from hotline.accounts.unlock import (
    UNLOCK_COOKIE,
    SessionLocked,
    forget,
    open_stash,
    org_key_for,
    stash_org_key,
    stashed_blob,
)
from hotline.audit import log as audit
from hotline.console.access import ANY_STAFF, MAX_NEXT, public_view, signed_in_user, staff_view
from hotline.console.render import flash, page
from hotline.keyring.actions import LockedError, unlock_with_password

ENROL_MINUTES = 10
_WRONG = gettext_lazy("That username, password and code do not match. Check them and try again.")
# The answer to a refused sign-in without a code depends on what was typed, never on the account: the
# same for an unknown username, a wrong password and an account whose app is set up (whose code is
# then needed: the first administrator's, set up by ``hotline setup``, or anyone's after enrolment).
_WRONG_WITHOUT_CODE = gettext_lazy(
    "That username, password and code do not match. If your authenticator app is set up (the first "
    "administrator's is, by hotline setup), enter the six digits it shows."
)


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(max_length=1024, strip=False)
    code = forms.CharField(max_length=12, required=False)


class CodeForm(forms.Form):
    code = forms.CharField(max_length=12)


class PasswordForm(forms.Form):
    current = forms.CharField(max_length=1024, strip=False)
    new = forms.CharField(max_length=1024, strip=False)
    repeat = forms.CharField(max_length=1024, strip=False)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if len(target) > MAX_NEXT:
        return fallback
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _refused(request: HttpRequest, form: LoginForm, message: str, status: int) -> HttpResponse:
    return page(
        request, "accounts/login.html", {"form": form, "error": message, "next": _safe_next(request, "")}, status=status
    )


def _throttled(request: HttpRequest, template: str, context: dict[str, Any], wait: int) -> HttpResponse:
    message = _("Too many failed attempts. Wait %(seconds)s seconds, then try again.") % {"seconds": wait}
    response = page(request, template, {**context, "error": message}, status=429)
    response["Retry-After"] = str(wait)
    return response


def complete_login(request: HttpRequest, user: User, device: TOTPDevice, org_key: bytes) -> HttpResponse:
    """Sign ``user`` in (new session id), mark the session TOTP-verified and stash the key."""
    next_url = request.session.get("enrol_next") or _safe_next(request, "")
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    for name in ("enrol_user", "enrol_started", "enrol_next"):
        request.session.pop(name, None)
    request.session["last_seen"] = request.session[SIGNED_IN_AT] = int(time.time())
    response = HttpResponseRedirect(next_url or reverse("console:home"))
    stash_org_key(request, response, user.pk, org_key)
    throttle.remember_browser(request, response, user.username)
    with transaction.atomic():
        audit.record(actor_of(user), "staff.login", "user", user.pk)
    return response


@public_view
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if signed_in_user(request) is not None:
            return HttpResponseRedirect(reverse("console:home"))
        return page(request, "accounts/login.html", {"form": LoginForm(), "next": _safe_next(request, "")})
    form = LoginForm(request.POST)
    if not form.is_valid():
        return _refused(request, form, _("Fill in your username and password."), 400)
    username, password, code = form.cleaned_data["username"], form.cleaned_data["password"], form.cleaned_data["code"]
    attempt = throttle.Attempt.of(request, username)
    wait = throttle.reserve(attempt)  # counted as a failure until the checks pass
    if wait:
        return _throttled(request, "accounts/login.html", {"form": form}, wait)
    wrong = str(_WRONG if code.strip() else _WRONG_WITHOUT_CODE)
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User):
        return _refused(request, form, wrong, 401)
    device = totp.confirmed_device(user)
    if device is not None and not totp.verify_once(device, code):
        return _refused(request, form, wrong, 401)
    try:
        org_key = unlock_with_password(user, password)
    except LockedError:
        throttle.record_success(attempt)  # the password was right; the account is what is missing
        return _refused(
            request, form, _("This account holds no key to the cases. Ask an admin to reset your access."), 403
        )
    throttle.record_success(attempt)
    if device is None:
        return _start_enrolment(request, user, org_key)
    return complete_login(request, user, device, org_key)


def _start_enrolment(request: HttpRequest, user: User, org_key: bytes) -> HttpResponse:
    """Password accepted, no TOTP device yet: hold the unlocked key the same way while they enrol."""
    request.session.cycle_key()
    request.session["enrol_user"] = user.pk
    request.session["enrol_started"] = int(time.time())
    request.session["enrol_next"] = _safe_next(request, "")
    response = HttpResponseRedirect(reverse("accounts:enrol"))
    stash_org_key(request, response, user.pk, org_key)
    return response


def _pending_enrolment(request: HttpRequest) -> tuple[User, bytes] | None:
    user_id = request.session.get("enrol_user")
    started = request.session.get("enrol_started", 0)
    blob, cookie = stashed_blob(request), request.COOKIES.get(UNLOCK_COOKIE)
    if not isinstance(user_id, int) or blob is None or cookie is None:
        return None
    if time.time() - started > ENROL_MINUTES * 60:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    try:
        return user, open_stash(blob, cookie, user.pk)
    except SessionLocked:
        return None


@public_view
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    pending = _pending_enrolment(request)
    if pending is None:
        flash(request, _("Sign in again to set up your authenticator."))
        return HttpResponseRedirect(reverse("accounts:login"))
    user, org_key = pending
    device = totp.pending_device(user)
    context: dict[str, Any] = {"qr": totp.qr_svg(device), "secret": totp.secret_text(device), "form": CodeForm()}
    if request.method == "GET":
        return page(request, "accounts/enrol.html", context)
    form = CodeForm(request.POST)
    context["form"] = form
    attempt = throttle.Attempt.of(request, user.username)
    wait = throttle.reserve(attempt)
    if wait:
        return _throttled(request, "accounts/enrol.html", context, wait)
    if not form.is_valid() or not totp.verify_once(device, form.cleaned_data["code"]):
        context["error"] = _("That code is not right. Enter the 6 digits your app shows now.")
        return page(request, "accounts/enrol.html", context, status=400)
    throttle.record_success(attempt)
    totp.confirm(device)
    device.refresh_from_db()
    with transaction.atomic():
        audit.record(actor_of(user), "staff.totp_enrol", "user", user.pk)
    return complete_login(request, user, device, org_key)


@staff_view(ANY_STAFF, allow_pending_password=True)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    if user is not None:
        with transaction.atomic():
            audit.record(actor_of(user), "staff.logout", "user", user.pk)
    logout(request)
    response = HttpResponseRedirect(reverse("accounts:login"))
    forget(response)
    return response


@staff_view(ANY_STAFF, allow_pending_password=True)
@require_POST
def logout_everywhere_view(request: HttpRequest) -> HttpResponse:
    """End every session of this staff member, this one included (a lost laptop, a shared PC)."""
    user = signed_in_user(request)
    assert user is not None
    with transaction.atomic():
        ended = end_sessions(user)
        audit.record(actor_of(user), "staff.logout_everywhere", "user", user.pk, {"sessions_ended": ended})
    logout(request)
    flash(request, _("You were signed out everywhere."))
    response = HttpResponseRedirect(reverse("accounts:login"))
    forget(response)
    return response


@staff_view(ANY_STAFF, allow_pending_password=True)
@sensitive_post_parameters("current", "new", "repeat")
@require_http_methods(["GET", "POST"])
def password_view(request: HttpRequest) -> HttpResponse:
    """Change one's password; the organisation key is re-wrapped under the new one in the same step."""
    user = signed_in_user(request)
    assert user is not None
    if request.method == "GET":
        return page(request, "accounts/password.html", {"form": PasswordForm()})
    form = PasswordForm(request.POST)
    if not form.is_valid():
        return page(
            request, "accounts/password.html", {"form": form, "error": _("Fill in all three fields.")}, status=400
        )
    attempt = throttle.Attempt.of(request, user.username)
    wait = throttle.reserve(attempt)
    if wait:
        return _throttled(request, "accounts/password.html", {"form": form}, wait)
    if not user.check_password(form.cleaned_data["current"]):
        return page(
            request,
            "accounts/password.html",
            {"form": form, "error": _("Your current password is not right.")},
            status=400,
        )
    throttle.record_success(attempt)
    if form.cleaned_data["new"] != form.cleaned_data["repeat"]:
        return page(
            request, "accounts/password.html", {"form": form, "error": _("The two new passwords differ.")}, status=400
        )
    try:
        do_change_password(actor_of(user), user, org_key_for(request), form.cleaned_data["new"])
    except StaffError as exc:
        return page(request, "accounts/password.html", {"form": form, "error": str(exc)}, status=400)
    end_sessions(user, keep=request.session.session_key)
    update_session_auth_hash(request, user)
    flash(request, _("Your password was changed. Other sessions were signed out."))
    return HttpResponseRedirect(reverse("console:home"))


@public_view
@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """Switch the console language (kept in a cookie, like Django's own set_language)."""
    code = request.POST.get("language", "")
    response = HttpResponseRedirect(_safe_next(request, reverse("console:home")))
    if code in {c for c, _name in settings.LANGUAGES}:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, code, max_age=365 * 24 * 3600, samesite="Strict", httponly=True
        )
    return response
