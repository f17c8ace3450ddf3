"""Helpers for the console tests: staff who really hold the organisation key and a TOTP device, and
signing them in through the real login form.

Named people, as elsewhere: "alice" an operator, "bob" another operator, "carol" a coordinator,
"sam" a supervisor, "ana" an analyst, and the installation's first admin.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.models import User
from hotline.accounts.staff import actor_of
from hotline.cases import actions
from hotline.cases.models import Case
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role, Status
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.keyring.actions import do_wrap_for_staff
from tests.conftest import ADMIN_PASSWORD, Org

INTAKE = Actor.system("telegram")
# The clock TOTP codes are made at: pinned for each test, with django-otp's (tests/conftest.py).
totp_clock: Callable[[], float] = time.time


def code_at_now(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for ``secret`` (base32) now, by the tests' TOTP clock."""
    return str(pyotp.TOTP(secret).at(totp_clock() + 30 * steps_ahead))


@dataclass
class Staff:
    user: User
    password: str
    totp_key: str

    def code(self, steps_ahead: int = 0) -> str:
        """The TOTP code the staff member's phone shows now (or ``steps_ahead`` × 30 s later)."""
        secret = base64.b32encode(bytes.fromhex(self.totp_key)).decode()
        return code_at_now(secret, steps_ahead)

    @property
    def pk(self) -> int:
        return int(self.user.pk)


def make_staff(org: Org, username: str, role: Role) -> Staff:
    """A staff member as they are after enrolment: own password, key wrapped for it, TOTP device."""
    password = f"{username}-has-a-long-password"
    user = User.objects.create_user(username=username, password=password, role=role)
    do_wrap_for_staff(org.admin_actor, user, org.private_key, password)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return Staff(user, password, device.key)


def admin_staff(org: Org) -> Staff:
    device = TOTPDevice.objects.get(user=org.admin)
    return Staff(org.admin, ADMIN_PASSWORD, device.key)


def sign_in(client: Client, staff: Staff, *, steps_ahead: int = 0, **extra: str):  # type: ignore[no-untyped-def]
    """Post the login form; returns the response (302 to the console when it worked)."""
    data = {"username": staff.user.username, "password": staff.password, "code": staff.code(steps_ahead)}
    return client.post("/accounts/login/", data, **extra)


def signed_in_client(staff: Staff, **kwargs: object) -> Client:
    client = Client(**kwargs)  # type: ignore[arg-type]
    response = sign_in(client, staff)
    assert response.status_code == 302, response.content[:500]
    return client


def open_case(chat_id: str = "100200300", **answers: str) -> Case:
    return actions.do_open_case(
        INTAKE,
        channel=ChannelKind.TELEGRAM,
        address=chat_id,
        language="ru",
        category=Category.SERVICEMAN,
        region=Region.CRIMEA,
        answers=answers,
    )


def inbound(case: Case, body: str) -> None:
    actions.do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=body)


def assign(case: Case, staff: Staff) -> Case:
    return actions.do_assign(actor_of(staff.user), case, staff.user)


def move(case: Case, *path: Status, by: Staff) -> Case:
    for status in path:
        case = actions.do_transition(actor_of(by.user), case, status)
    return case
