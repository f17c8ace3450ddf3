"""The first sign-in of every kind of newly made account, following the hint the sign-in page shows.

Accounts are made four ways, and each meets the code field differently:
* ``hotline setup`` makes the first admin with an authenticator already set up (setup prints its QR
  code): the code is needed from the first sign-in on;
* the console's staff page makes an account with a one-time password and no authenticator: the code
  is left empty, the app is set up next, then the password is changed;
* "Reset access" on the staff page does the same to an existing account;
* ``hotline keys recover`` gives an admin a new password and keeps their authenticator.
``hotline serve --demo`` makes no account of its own: its admin is made by ``hotline setup``.

The hint is the same whoever asks, and so is the answer to a refused sign-in: the page never says
which usernames exist.
"""

from __future__ import annotations

import html
import json
import re
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.models import User
from hotline.core.lifecycle import Role
from tests.conftest import Org
from tests.console_support import Staff, admin_staff, code_at_now, make_staff, signed_in_client

SETUP_PASSWORD = "the first admin's long password"
# What the hint tells each kind of account to do with the code field.
LEAVE_IT_EMPTY = "you have not set up the app yet? Leave it empty"
ENTER_THE_CODE = "The first administrator set up the app with hotline setup: enter its code."


def hint_on_the_sign_in_page(client: Client) -> str:
    page = client.get("/accounts/login/").content.decode()
    found = re.search(r'<p id="code-help" class="hint">([^<]+)</p>', page)
    assert found is not None, page
    return html.unescape(found.group(1))


def refusal(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """The status and the error a refused sign-in shows."""
    found = re.search(r'<p class="error" role="alert">([^<]+)</p>', response.content.decode())
    assert found is not None, response.content[:500]
    return response.status_code, html.unescape(found.group(1))


def one_time_password_on(page: str) -> str:
    found = re.search(r'<p class="otp"><code>([^<]+)</code>', page)
    assert found is not None, page
    return found.group(1)


def run_setup(tmp_path: Path) -> str:
    """``hotline setup`` as an operator runs it; returns the TOTP secret its QR code holds."""
    (tmp_path / "pw").write_text(SETUP_PASSWORD + "\n")
    out = StringIO()
    call_command("setup", username="root", password_file=tmp_path / "pw", json=True, stdout=out)
    uri = json.loads(out.getvalue())["totp_uri"]
    return parse_qs(urlparse(uri).query)["secret"][0]


def enrol_following_the_hint(username: str, one_time: str) -> Client:
    """A person holding a one-time password signs in as the hint says: the code left empty, the app
    set up with the key the enrolment page shows, then a password of their own."""
    client = Client()
    assert LEAVE_IT_EMPTY in hint_on_the_sign_in_page(client)
    first = client.post("/accounts/login/", {"username": username, "password": one_time, "code": ""})
    assert first.status_code == 302 and first["Location"] == "/accounts/enrol/"
    enrol = client.get("/accounts/enrol/").content.decode()
    secret = re.search(r'<code class="secret">([^<]+)</code>', enrol).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert client.post("/accounts/enrol/", {"code": code_at_now(secret)}).status_code == 302
    assert client.get("/console/queue/").url == "/accounts/password/"
    own = f"{username}'s own long password"
    assert client.post("/accounts/password/", {"current": one_time, "new": own, "repeat": own}).status_code == 302
    assert client.get("/console/queue/").status_code == 200
    return client


def test_the_admin_made_by_setup_signs_in_with_the_code_setup_printed(db: None, tmp_path: Path) -> None:
    secret = run_setup(tmp_path)
    client = Client()
    assert ENTER_THE_CODE in hint_on_the_sign_in_page(client)
    response = client.post(
        "/accounts/login/", {"username": "root", "password": SETUP_PASSWORD, "code": code_at_now(secret)}
    )
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert client.get("/console/queue/").status_code == 200


def test_setups_admin_leaving_the_code_empty_is_told_to_enter_it_as_anyone_else_would_be(
    db: None, tmp_path: Path
) -> None:
    """The old hint ("first time? leave it empty") locked this admin out with a bare "do not match".
    A refusal without a code now says the code is needed once the app is set up, but says so to
    everyone who left it empty: an unknown username and a wrong password get the very same answer."""
    run_setup(tmp_path)
    admin = refusal(Client().post("/accounts/login/", {"username": "root", "password": SETUP_PASSWORD, "code": ""}))
    wrong_password = refusal(Client().post("/accounts/login/", {"username": "root", "password": "x" * 12, "code": ""}))
    nobody = refusal(Client().post("/accounts/login/", {"username": "nobody", "password": "x" * 12, "code": ""}))
    assert admin == wrong_password == nobody
    status, message = admin
    assert status == 401 and "enter the six digits it shows" in message
    with_a_code = refusal(Client().post("/accounts/login/", {"username": "nobody", "password": "x" * 12, "code": "1"}))
    assert with_a_code[0] == 401 and "enter the six digits" not in with_a_code[1]


def test_someone_added_on_the_staff_page_leaves_the_code_empty_then_sets_up_the_app(org: Org) -> None:
    admin = signed_in_client(admin_staff(org))
    page = admin.post("/console/staff/add/", {"username": "dora", "role": "operator"}).content.decode()
    assert "leave the code empty" in page
    enrol_following_the_hint("dora", one_time_password_on(page))
    assert TOTPDevice.objects.filter(user__username="dora", confirmed=True).count() == 1


def test_someone_whose_access_was_reset_leaves_the_code_empty_then_sets_up_the_app_again(org: Org) -> None:
    alice = make_staff(org, "alice", Role.OPERATOR)
    old_device = TOTPDevice.objects.get(user=alice.user)
    admin = signed_in_client(admin_staff(org))
    page = admin.post(f"/console/staff/{alice.pk}/reset/").content.decode()
    enrol_following_the_hint("alice", one_time_password_on(page))
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()


def test_someone_who_enrolled_but_did_not_change_the_one_time_password_needs_the_code_next_time(org: Org) -> None:
    """Between enrolment and the password change the account has an app: the hint's "not set up the
    app yet" no longer applies, and the code is what lets them in."""
    admin = signed_in_client(admin_staff(org))
    one_time = one_time_password_on(
        admin.post("/console/staff/add/", {"username": "emil", "role": "operator"}).content.decode()
    )
    client = Client()
    client.post("/accounts/login/", {"username": "emil", "password": one_time, "code": ""})
    enrol = client.get("/accounts/enrol/").content.decode()
    secret = re.search(r'<code class="secret">([^<]+)</code>', enrol).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert client.post("/accounts/enrol/", {"code": code_at_now(secret)}).status_code == 302
    again = {"username": "emil", "password": one_time}
    assert Client().post("/accounts/login/", {**again, "code": ""}).status_code == 401
    later = Client().post("/accounts/login/", {**again, "code": code_at_now(secret, steps_ahead=1)})
    assert later.status_code == 302 and Client().get("/accounts/login/").status_code == 200


def test_an_admin_recovered_with_the_recovery_key_signs_in_with_the_app_they_had(org: Org, tmp_path: Path) -> None:
    (tmp_path / "rk").write_text(org.recovery_key)
    (tmp_path / "pw").write_text("a recovered long password")
    out = StringIO()
    call_command(
        "keys",
        "recover",
        username="admin",
        recovery_key_file=tmp_path / "rk",
        password_file=tmp_path / "pw",
        stdout=out,
    )
    assert "code from the authenticator app set up before" in out.getvalue()
    recovered = Staff(User.objects.get(username="admin"), "a recovered long password", admin_staff(org).totp_key)
    response = Client().post(
        "/accounts/login/", {"username": "admin", "password": recovered.password, "code": recovered.code()}
    )
    assert response.status_code == 302 and response["Location"] == "/console/"


def test_the_hint_and_the_refusal_without_a_code_are_in_ukrainian_too(db: None, tmp_path: Path) -> None:
    run_setup(tmp_path)
    client = Client()
    client.post("/accounts/language/", {"language": "uk", "next": "/accounts/login/"})
    shown = hint_on_the_sign_in_page(client)
    assert "Залиште поле порожнім" in shown and "hotline setup: введіть його код" in shown
    status, message = refusal(
        client.post("/accounts/login/", {"username": "root", "password": SETUP_PASSWORD, "code": ""})
    )
    assert status == 401 and "введіть шість цифр" in message
