"""Sign-in attempts sent all at once are counted like attempts sent one after another.

The throttle counts an attempt before the password or code is checked (``throttle.reserve``), so a
guesser who fires many requests in parallel gets as few checks as one who waits for each answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from hotline.accounts import throttle, totp
from hotline.accounts import views as account_views
from hotline.core.lifecycle import Role
from tests.conftest import Org, set_up_org
from tests.console_support import Staff, make_staff, sign_in


@pytest.fixture(autouse=True)
def _pinned_clock() -> Iterator[None]:
    """However slowly a loaded machine runs the threads, they all try within the same instant."""
    at = throttle.now()
    with mock.patch.object(throttle, "now", return_value=at):
        yield


@pytest.fixture
def alice(transactional_db: None) -> Staff:
    org: Org = set_up_org()
    return make_staff(org, "alice", Role.OPERATOR)


def _all_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; each thread has its own connection."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class _Counting:
    """Wraps a check and counts how often it really ran."""

    def __init__(self, check: Callable[..., Any]) -> None:
        self.check, self.calls, self.lock = check, 0, threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
        return self.check(*args, **kwargs)


def _wrong_password(i: int) -> int:
    data = {"username": "alice", "password": f"guess number {i}", "code": "000000"}
    return Client().post("/accounts/login/", data, REMOTE_ADDR="203.0.113.9").status_code


def test_parallel_wrong_passwords_get_as_few_checks_as_sequential_ones(alice: Staff) -> None:
    checked = _Counting(account_views.authenticate)
    with mock.patch.object(account_views, "authenticate", checked):
        statuses = _all_at_once(40, _wrong_password)
    assert checked.calls == throttle.PAIR.free + 1  # what ten sequential guesses get
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == checked.calls


def test_parallel_totp_codes_get_as_few_checks_as_sequential_ones(alice: Staff) -> None:
    checked = _Counting(totp.verify_once)

    def wrong_code(i: int) -> int:
        data = {"username": "alice", "password": alice.password, "code": f"{i:06d}"}
        return Client().post("/accounts/login/", data, REMOTE_ADDR="203.0.113.9").status_code

    with mock.patch.object(account_views.totp, "verify_once", checked):
        statuses = _all_at_once(40, wrong_code)
    assert checked.calls == throttle.PAIR.free + 1
    assert statuses.count(302) == 0


def test_parallel_reservations_take_one_place_each(alice: Staff) -> None:
    request = Client().get("/accounts/login/").wsgi_request
    attempt = throttle.Attempt.of(request, "someone")
    waits = _all_at_once(30, lambda _i: throttle.reserve(attempt))
    assert waits.count(0) == throttle.PAIR.free + 1
    row = throttle.LoginThrottle.objects.get(key=attempt.pair)
    assert row.failures == throttle.PAIR.free + 1


def test_a_right_password_gives_its_place_back(alice: Staff) -> None:
    for step in range(2):  # each sign-in needs a code not used before
        assert sign_in(Client(), alice, steps_ahead=step, REMOTE_ADDR="198.51.100.7").status_code == 302
    # Only failures are left counted: good sign-ins from one machine leave nothing behind.
    assert throttle.LoginThrottle.objects.filter(failures__gt=0).count() == 0
