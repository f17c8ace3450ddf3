"""Actions on staff accounts that involve the organisation key: add, remove, reset, change password.

Each runs in one transaction with its audit event. Adding someone wraps the organisation key for them
under a one-time password they must change at first sign-in (the change re-wraps it under their own).
Removing someone destroys their wrapped key and their TOTP device and ends their sessions, so their
access stops at their next request, not when a cookie expires.
"""

from __future__ import annotations

import re

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.models import STAFF_ROLES, User
from hotline.accounts.sessions import end_sessions
from hotline.audit import log as audit
from hotline.cases.actions import do_assign
from hotline.cases.models import Case
from hotline.core import codes
from hotline.core.actor import Actor
from hotline.core.lifecycle import OPEN, Role
from hotline.keyring.actions import do_wrap_for_staff
from hotline.keyring.models import StaffKeyWrap

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class StaffError(Exception):
    """A refused change to a staff account, with a message for the admin who asked."""


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.pk, label=user.username, role=Role(user.role))


def one_time_password() -> str:
    """80 random bits, grouped for reading aloud or copying: handed over once, changed at first use."""
    return codes.group(codes.generate(80))


def _check_role(role: str) -> Role:
    if role not in {r.value for r in STAFF_ROLES}:
        raise StaffError(_("unknown role"))
    return Role(role)


def do_add_staff(actor: Actor, org_private: bytes, username: str, role: str) -> tuple[User, str]:
    """Create a staff member holding the organisation key under a one-time password; returns both.

    They have no TOTP device yet: they enrol one at first sign-in, then choose their own password.
    """
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError(_("a username is 2–32 lower-case letters, digits, dots, dashes or underscores"))
    staff_role = _check_role(role)
    password = one_time_password()
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise StaffError(_("that username is taken"))
        user = User(username=username, role=staff_role, must_change_password=True)
        user.set_password(password)
        user.save()
        do_wrap_for_staff(actor, user, org_private, password)
        audit.record(actor, "staff.create", "user", user.pk, {"role": staff_role.value})
    return user, password


def _refuse_removing_last_admin(actor: Actor, user: User) -> None:
    if user.pk == actor.user_id:
        raise StaffError(_("you cannot do this to your own account"))
    if (
        user.role == Role.ADMIN
        and not User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists()
    ):
        raise StaffError(_("the last active admin cannot be removed"))


def do_remove_staff(actor: Actor, user: User) -> None:
    """Take every way in away from ``user`` at once: key wrap, TOTP device, sessions; return their
    open cases to the unassigned queue."""
    _refuse_removing_last_admin(actor, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.is_active = False
        user.save(update_fields=["is_active"])
        StaffKeyWrap.objects.filter(user=user).delete()
        TOTPDevice.objects.filter(user=user).delete()
        ended = end_sessions(user)
        for case in Case.objects.filter(assignee=user, status__in=[s.value for s in OPEN]):
            do_assign(actor, case, None)
        audit.record(actor, "staff.remove", "user", user.pk, {"sessions_ended": ended})


def do_reset_access(actor: Actor, org_private: bytes, user: User) -> str:
    """A new one-time password and a new TOTP enrolment for someone who lost theirs."""
    if user.pk == actor.user_id:
        raise StaffError(_("you cannot do this to your own account"))
    if not user.is_active:
        raise StaffError(_("this account has been removed"))
    password = one_time_password()
    with transaction.atomic():
        user.set_password(password)
        user.must_change_password = True
        user.save(update_fields=["password", "must_change_password"])
        do_wrap_for_staff(actor, user, org_private, password)
        TOTPDevice.objects.filter(user=user).delete()
        ended = end_sessions(user)
        audit.record(actor, "staff.reset", "user", user.pk, {"sessions_ended": ended})
    return password


def do_set_role(actor: Actor, user: User, role: str) -> None:
    staff_role = _check_role(role)
    if user.role == Role.ADMIN and staff_role != Role.ADMIN:
        _refuse_removing_last_admin(actor, user)
    with transaction.atomic():
        user.role = staff_role
        user.save(update_fields=["role"])
        audit.record(actor, "staff.role", "user", user.pk, {"role": staff_role.value})


def check_new_password(user: User, new_password: str) -> list[str]:
    """The reasons ``new_password`` is refused (empty when it is fine)."""
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        return list(exc.messages)
    if user.check_password(new_password):
        return [_("choose a password different from the current one")]
    return []


def do_change_password(actor: Actor, user: User, org_private: bytes, new_password: str) -> None:
    """Set a new password and re-wrap the organisation key under it, both or neither."""
    problems = check_new_password(user, new_password)
    if problems:
        raise StaffError(problems[0])
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        do_wrap_for_staff(actor, user, org_private, new_password)
        audit.record(actor, "staff.password", "user", user.pk)
