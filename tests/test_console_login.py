"""Signing in: password and TOTP, enrolment, one-time passwords, throttling, idle timeout, signing out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts import throttle
from hotline.accounts.models import LoginThrottle
from hotline.accounts.staff import do_add_staff
from hotline.accounts.totp import clean_code
from hotline.core.lifecycle import Role
from hotline.keyring.actions import LockedError, unlock_with_password
from tests.conftest import Org
from tests.console_support import Staff, make_staff, sign_in, signed_in_client

WRONG = b"do not match"


@pytest.fixture
def alice(org: Org) -> Staff:
    return make_staff(org, "alice", Role.OPERATOR)


@pytest.fixture(autouse=True)
def _throttle_clock_stands_still() -> Iterator[None]:
    """Sign-in throttling measures its waits with ``timezone.now()``, and the waits here are one or
    two seconds: a loaded machine may spend that between a failure and the next try. The clock
    stands still in these tests, so a wait ends only when a test ends it (test_a_wait_ends)."""
    from django.utils import timezone

    frozen = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=frozen):
        yield


def test_a_replay_stays_a_replay_when_the_wall_clock_reaches_the_next_step(alice: Staff) -> None:
    """What made test_a_code_that_was_used_once_is_refused fail one run in a few: the 30-second step
    turned between the two sign-ins, so the "replayed" code was a fresh one. Codes are made and
    checked at a time pinned for the test (tests/conftest.py), so here, with the wall clock moved on
    by a whole step, the second sign-in still uses, and is refused, the same code."""
    assert sign_in(Client(), alice).status_code == 302
    with mock.patch("time.time", return_value=time.time() + 30):
        replay = sign_in(Client(), alice)
    assert replay.status_code == 401 and WRONG in replay.content


def test_staff_sign_in_with_password_and_code_and_land_on_the_queue(alice: Staff) -> None:
    client = Client()
    response = sign_in(client, alice)
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert client.get("/console/").url == "/console/queue/"
    page = client.get("/console/queue/")
    assert page.status_code == 200
    assert b"alice" in page.content


def test_a_wrong_password_and_a_wrong_code_get_the_same_answer(alice: Staff) -> None:
    client = Client()
    bad_password = client.post(
        "/accounts/login/", {"username": "alice", "password": "nope-nope-nope", "code": alice.code()}
    )
    bad_code = client.post("/accounts/login/", {"username": "alice", "password": alice.password, "code": "000000"})
    no_such_user = client.post("/accounts/login/", {"username": "mallory", "password": "x" * 12, "code": "123456"})
    for response in (bad_password, bad_code, no_such_user):
        assert response.status_code == 401 and WRONG in response.content
    assert client.get("/console/queue/").status_code == 302


def test_a_code_that_was_used_once_is_refused(alice: Staff) -> None:
    client = Client()
    assert sign_in(client, alice).status_code == 302
    client.post("/accounts/logout/")
    replay = sign_in(Client(), alice)
    assert replay.status_code == 401 and WRONG in replay.content
    assert sign_in(Client(), alice, steps_ahead=1).status_code == 302


def test_signing_in_gives_a_new_session_id(alice: Staff) -> None:
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client = Client()
    client.cookies["sessionid"] = planted.session_key
    assert sign_in(client, alice).status_code == 302
    assert client.cookies["sessionid"].value != planted.session_key
    fixed = Client()
    fixed.cookies["sessionid"] = planted.session_key
    assert fixed.get("/console/queue/").status_code == 302


def test_a_new_staff_member_enrols_a_device_then_chooses_a_password(org: Org) -> None:
    user, one_time = do_add_staff(org.admin_actor, org.private_key, "dora", "operator")
    client = Client()
    first = client.post("/accounts/login/", {"username": "dora", "password": one_time, "code": ""})
    assert first.status_code == 302 and first["Location"] == "/accounts/enrol/"
    enrol = client.get("/accounts/enrol/")
    assert enrol.status_code == 200 and b"<svg" in enrol.content and b"<img" not in enrol.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    staff = Staff(user, one_time, device.key)
    assert client.post("/accounts/enrol/", {"code": "000000"}).status_code == 400
    assert client.post("/accounts/enrol/", {"code": staff.code()}).status_code == 302
    assert client.get("/console/queue/").url == "/accounts/password/"
    new = "a much better password of my own"
    changed = client.post("/accounts/password/", {"current": one_time, "new": new, "repeat": new})
    assert changed.status_code == 302
    assert client.get("/console/queue/").status_code == 200
    user.refresh_from_db()
    assert not user.must_change_password
    assert unlock_with_password(user, new) == org.private_key
    with pytest.raises(LockedError):
        unlock_with_password(user, one_time)


def test_a_weak_or_mismatched_new_password_is_refused(alice: Staff) -> None:
    client = signed_in_client(alice)
    weak = client.post("/accounts/password/", {"current": alice.password, "new": "short", "repeat": "short"})
    assert weak.status_code == 400
    differ = client.post(
        "/accounts/password/", {"current": alice.password, "new": "x" * 20 + "a", "repeat": "x" * 20 + "b"}
    )
    assert differ.status_code == 400
    wrong = client.post(
        "/accounts/password/", {"current": "wrong" * 4, "new": "fine password here", "repeat": "fine password here"}
    )
    assert wrong.status_code == 400
    assert unlock_with_password(alice.user, alice.password)


def test_changing_the_password_signs_out_other_sessions(alice: Staff) -> None:
    laptop = signed_in_client(alice)
    phone = Client()
    assert sign_in(phone, alice, steps_ahead=1).status_code == 302
    new = "another long password entirely"
    assert laptop.post("/accounts/password/", {"current": alice.password, "new": new, "repeat": new}).status_code == 302
    assert laptop.get("/console/queue/").status_code == 200
    assert phone.get("/console/queue/").status_code == 302


def _fail(client: Client, username: str, source: str) -> int:
    data = {"username": username, "password": "not-the-password", "code": "000000"}
    return client.post("/accounts/login/", data, REMOTE_ADDR=source).status_code


def test_throttling_slows_the_guesser_but_not_the_real_user_elsewhere(alice: Staff) -> None:
    attacker = Client()
    for _ in range(throttle.PAIR.free + 1):
        assert _fail(attacker, "alice", "203.0.113.9") == 401
    refused = attacker.post(
        "/accounts/login/",
        {"username": "alice", "password": alice.password, "code": alice.code()},
        REMOTE_ADDR="203.0.113.9",
    )
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    # The real user, from her own machine, is not held up.
    assert sign_in(Client(), alice, REMOTE_ADDR="198.51.100.7").status_code == 302
    # Nothing stored names the account or the address.
    stored = b"".join(bytes(k) for k in LoginThrottle.objects.values_list("key", flat=True))
    assert b"alice" not in stored and b"203.0.113.9" not in stored


def test_a_distributed_guesser_cannot_keep_the_user_out_of_her_usual_browser(alice: Staff) -> None:
    usual = Client()
    assert sign_in(usual, alice, REMOTE_ADDR="198.51.100.7").status_code == 302
    usual.post("/accounts/logout/")
    for n in range(throttle.ACCOUNT.free + 2):
        _fail(Client(), "alice", f"192.0.2.{n + 1}")
    stranger = Client().post(
        "/accounts/login/",
        {"username": "alice", "password": alice.password, "code": alice.code(1)},
        REMOTE_ADDR="198.51.100.99",
    )
    assert stranger.status_code == 429
    assert sign_in(usual, alice, steps_ahead=1, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_a_wait_ends(alice: Staff) -> None:
    client = Client()
    for _ in range(throttle.PAIR.free + 1):
        _fail(client, "alice", "203.0.113.9")
    LoginThrottle.objects.update(blocked_until=LoginThrottle.objects.first().last_failure_at)  # type: ignore[union-attr]
    assert sign_in(client, alice, REMOTE_ADDR="203.0.113.9").status_code == 302


def test_the_waiting_time_doubles_up_to_a_cap() -> None:
    assert [throttle.delay_after(n, throttle.PAIR).total_seconds() for n in (5, 6, 7, 8)] == [0, 1, 2, 4]
    assert throttle.delay_after(10_000, throttle.PAIR) == throttle.PAIR.cap


def test_an_idle_session_is_signed_out_but_polling_does_not_keep_it_alive(alice: Staff) -> None:
    client = signed_in_client(alice)
    session = client.session
    session["last_seen"] = int(time.time()) - 10 * 60
    session.save()
    assert client.get("/console/queue/rows/", HTTP_X_HOTLINE_POLL="1").status_code == 200
    assert client.session["last_seen"] < time.time() - 9 * 60
    session = client.session
    session["last_seen"] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/console/queue/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert b"inactivity" in client.get(response.url).content


def test_signing_out_everywhere_ends_every_session(alice: Staff) -> None:
    laptop = signed_in_client(alice)
    phone = Client()
    assert sign_in(phone, alice, steps_ahead=1).status_code == 302
    assert laptop.post("/accounts/logout-everywhere/").status_code == 302
    assert laptop.get("/console/queue/").status_code == 302
    assert phone.get("/console/queue/").status_code == 302
    assert not any(s.get_decoded().get("_auth_user_id") == str(alice.pk) for s in Session.objects.all())


def test_the_console_speaks_ukrainian(alice: Staff) -> None:
    client = signed_in_client(alice)
    client.post("/accounts/language/", {"language": "uk", "next": "/console/queue/"})
    page = client.get("/console/queue/").content.decode()
    assert "Черга" in page and "Queue" not in page
    assert client.post("/accounts/language/", {"language": "xx"}).status_code == 302


def test_a_session_ends_after_its_maximum_length_however_active(alice: Staff) -> None:
    client = signed_in_client(alice)
    session = client.session
    session["signed_in_at"] = int(time.time()) - 13 * 3600
    session.save()
    response = client.get("/console/queue/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert b"maximum length" in client.get(response.url).content


def test_a_next_address_too_long_to_redirect_to_is_dropped_not_a_400_with_a_traceback(
    alice: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by tests/test_input_fuzz.py: Django refuses to redirect to more than 16,384 characters
    (DisallowedRedirect, logged with a traceback), and the way back after signing in and the
    language switch both redirected to what the request said."""
    long_path = "/console/queue/?tab=" + "x" * 20_000
    anonymous = Client().get(long_path)
    assert anonymous.status_code == 302 and anonymous["Location"] == "/accounts/login/"
    client = signed_in_client(alice)
    switched = client.post("/accounts/language/", {"language": "uk", "next": long_path})
    assert switched.status_code == 302 and switched["Location"] == "/console/"
    signed_in = sign_in(Client(), alice, steps_ahead=1, QUERY_STRING="next=" + long_path)
    assert signed_in.status_code == 302 and signed_in["Location"] == "/console/"
    assert not [r for r in caplog.records if r.exc_info]


def test_a_code_of_digits_that_are_not_ascii_is_not_a_code() -> None:
    assert clean_code("123 456") == "123456"
    assert clean_code("１２３４５６") is None  # full-width digits
    assert clean_code("²²²²²²") is None
