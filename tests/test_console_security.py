"""The console refuses what it must: forged posts, framing, outside resources, stolen session rows,
removed staff; and the unlocked key never lands anywhere it could be taken from."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.unlock import UNLOCK_COOKIE
from hotline.cases.models import Message
from hotline.core.lifecycle import Role
from hotline.keyring.models import StaffKeyWrap
from tests.conftest import Org, sqlite_file_bytes
from tests.console_support import Staff, admin_staff, assign, make_staff, open_case, sign_in, signed_in_client


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


def _key_spellings(key: bytes) -> list[bytes]:
    return [
        key,
        key.hex().encode(),
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        base64.b64encode(key).rstrip(b"="),
    ]


def test_a_post_without_the_csrf_token_is_refused(alice: Staff) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    data = {"username": "alice", "password": alice.password, "code": alice.code(), "csrfmiddlewaretoken": token}
    assert client.post("/accounts/login/", data).status_code == 302
    case = open_case()
    forged = client.post(f"/console/case/{case.pk}/reply/", {"body": "hi", "channel": "telegram"})
    assert forged.status_code == 403 and b"did not come from this console page" in forged.content
    assert not Message.objects.filter(case=case).exists()
    page = client.get(f"/console/case/{case.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert (
        client.post(f"/console/case/{case.pk}/note/", {"body": "ok", "csrfmiddlewaretoken": token}).status_code == 302
    )


def test_pages_cannot_be_framed_and_load_nothing_from_elsewhere(alice: Staff) -> None:
    client = signed_in_client(alice)
    case = open_case()
    for url in ("/accounts/login/", "/console/queue/", f"/console/case/{case.pk}/"):
        response = client.get(url)
        assert response["X-Frame-Options"] == "DENY"
        policy = response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response["Cache-Control"] == "no-store"
        html = response.content.decode()
        assert not re.search(r'(src|href|action)="(https?:)?//', html), url
        assert (
            "<script>" not in html and " style=" not in html and "<style" not in html and " on" + "click=" not in html
        )


def test_the_unlock_cookie_is_httponly_and_same_site_strict(alice: Staff) -> None:
    client = Client()
    sign_in(client, alice)
    cookie = client.cookies[UNLOCK_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["max-age"]
    assert client.cookies["sessionid"]["samesite"] == "Strict"


def test_a_stolen_session_row_without_the_cookie_decrypts_nothing(org: Org, alice: Staff) -> None:
    client = signed_in_client(alice)
    session_id = client.cookies["sessionid"].value
    row = Session.objects.get(session_key=session_id)
    raw = row.session_data.encode() + str(row.get_decoded()).encode()
    for spelling in _key_spellings(org.private_key):
        assert spelling not in raw
    case = open_case(identity_details="SECRET-UNIT-42")
    thief = Client()
    thief.cookies["sessionid"] = session_id
    response = thief.get(f"/console/case/{case.pk}/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert b"SECRET-UNIT-42" not in response.content
    # The stolen row is now useless for its owner too: the session was ended, not just refused.
    assert not Session.objects.filter(session_key=session_id).exists()


def test_the_unlock_cookie_from_another_session_does_not_open_this_one(org: Org, alice: Staff) -> None:
    bob = make_staff(org, "bob", Role.OPERATOR)
    alice_client, bob_client = signed_in_client(alice), signed_in_client(bob)
    bob_client.cookies[UNLOCK_COOKIE] = alice_client.cookies[UNLOCK_COOKIE].value
    assert bob_client.get("/console/queue/").status_code == 302


def test_the_unlocked_key_reaches_neither_the_database_nor_the_logs(
    org: Org, alice: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = signed_in_client(alice, REMOTE_ADDR="203.0.113.77")
    case = open_case(identity_details="x")
    client.get(f"/console/case/{case.pk}/")
    logged = caplog.text.encode()
    for spelling in _key_spellings(org.private_key):
        assert spelling not in logged
    assert b"203.0.113.77" not in logged
    if connection.vendor == "sqlite":
        connection.close()
        base = Path(connection.settings_dict["NAME"])
        blob = sqlite_file_bytes(base)
        for spelling in _key_spellings(org.private_key):
            assert spelling not in blob
        assert b"203.0.113.77" not in blob


def test_removing_a_staff_member_ends_their_access_at_once(org: Org, alice: Staff) -> None:
    alice_client = signed_in_client(alice)
    case = open_case()
    assign(case, alice)
    assert alice_client.get(f"/console/case/{case.pk}/").status_code == 200
    admin = signed_in_client(admin_staff(org))
    assert admin.post(f"/console/staff/{alice.pk}/remove/").status_code == 302
    assert alice_client.get(f"/console/case/{case.pk}/").status_code == 302
    assert not StaffKeyWrap.objects.filter(user=alice.user).exists()
    assert not TOTPDevice.objects.filter(user=alice.user).exists()
    assert sign_in(Client(), alice, steps_ahead=1).status_code == 401
    case.refresh_from_db()
    assert case.assignee_id is None


def test_an_admin_cannot_remove_themselves_or_the_last_admin(org: Org) -> None:
    admin = signed_in_client(admin_staff(org))
    assert admin.post(f"/console/staff/{org.admin.pk}/remove/").status_code == 400
    assert StaffKeyWrap.objects.filter(user=org.admin).exists()


def test_static_assets_are_served_by_the_app_itself(client: Client) -> None:
    for path, start in (("/static/console/htmx.min.js", b"var htmx"), ("/static/console/console.css", b"/* Hotline")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content).startswith(start)  # type: ignore[attr-defined]
