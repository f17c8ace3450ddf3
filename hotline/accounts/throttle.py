"""Sign-in throttling that slows a guesser without letting anyone lock the real user out.

Every failed attempt (wrong password, wrong or replayed code) is counted three ways, each under a
keyed hash so the table holds neither usernames that were tried nor IP addresses:

* **this account from this source** — the main brake on one machine guessing one account;
* **this source**, whatever the account — a machine spraying many accounts;
* **this account**, from anywhere — a botnet guessing one account. This count is *not* applied to a
  browser holding the account's "known browser" cookie (set after each successful sign-in), so an
  attack elsewhere never keeps the real user out of their usual browser.

Each count is free up to a threshold, then every further failure doubles a waiting time up to a cap;
counts fade after an hour without failures. Attempts refused while waiting are not checked at all
(no password hashing), so they cost the server nothing and teach the attacker nothing.

An attempt is counted *before* its password or code is checked (:func:`reserve`, one conditional
statement per count) and given back when the check passes, so a hundred guesses sent at once are
checked no more often than a hundred sent one after another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hotline import clientaddr
from hotline.accounts.models import LoginThrottle
from hotline.keyring import server_keys


@dataclass(frozen=True)
class Rule:
    name: str
    free: int  # failures allowed before any waiting
    cap: timedelta  # the longest wait one more failure can cause


PAIR = Rule("pair", free=5, cap=timedelta(minutes=15))
SOURCE = Rule("source", free=30, cap=timedelta(hours=1))
ACCOUNT = Rule("account", free=20, cap=timedelta(minutes=15))
FORGET_AFTER = timedelta(hours=1)

KNOWN_BROWSER_COOKIE = "hotline_known"
_KNOWN_SALT = "hotline.accounts.known-browser"
_KNOWN_MAX_AGE = 90 * 24 * 3600
_KNOWN_MAX_ACCOUNTS = 5


def delay_after(failures: int, rule: Rule) -> timedelta:
    """How long to wait after ``failures`` failures: nothing up to the free allowance, then 1 s,
    2 s, 4 s … up to the rule's cap."""
    over = failures - rule.free
    if over <= 0:
        return timedelta(0)
    cap = rule.cap.total_seconds()
    return timedelta(seconds=cap if over > 40 else min(cap, 2.0 ** (over - 1)))


def client_source(request: HttpRequest) -> str:
    """The client, one machine one source (``hotline.clientaddr``)."""
    return clientaddr.client_source(request)


def _key(kind: str, value: str) -> bytes:
    return server_keys.get().blind_index(f"login-throttle:{kind}", value)


def _account(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class Attempt:
    """Who is trying to sign in, reduced to the three throttle keys."""

    pair: bytes
    source: bytes
    account: bytes
    known_browser: bool

    @classmethod
    def of(cls, request: HttpRequest, username: str) -> Attempt:
        source = client_source(request)
        account = _account(username)
        return cls(
            pair=_key("pair", f"{account}\x00{source}"),
            source=_key("source", source),
            account=_key("account", account),
            known_browser=account_hash(username) in known_accounts(request),
        )

    def rules(self) -> list[tuple[bytes, Rule]]:
        keyed = [(self.pair, PAIR), (self.source, SOURCE)]
        if not self.known_browser:
            keyed.append((self.account, ACCOUNT))
        return keyed


def now() -> datetime:
    """The throttle's clock (one place, so tests can pin it)."""
    return timezone.now()


def _until(at: datetime, delay: timedelta) -> datetime:
    """When a wait of ``delay`` from ``at`` ends; no wait is a time long past, never ``at`` itself:
    an attempt that read the clock a moment before another took a free place must not see a wait."""
    return at + delay if delay else at - FORGET_AFTER


def reserve(attempt: Attempt) -> int:
    """Count this attempt as a failure *before* it is checked; return the seconds it must still wait
    (0: go ahead and check it).

    Counting first is what makes parallel guesses cost as much as sequential ones: each attempt
    takes its place in the count with one conditional statement, and only attempts that found no
    wait are checked. An attempt that must wait is counted nowhere and costs no password hashing.
    A check that passes gives the attempt back (:func:`record_success`).
    """
    at = now()
    enforced = {key for key, _ in attempt.rules()}
    waiting = _longest_wait(list(enforced), at)
    if waiting:
        return waiting
    for key, rule in ((attempt.pair, PAIR), (attempt.source, SOURCE), (attempt.account, ACCOUNT)):
        wait = _count(key, rule, at, enforce=key in enforced)
        if wait:
            # Another attempt took the last free place a moment ago: this one waits. The places it
            # took under the keys before stay counted, which errs towards slowing the guesser.
            return wait
    LoginThrottle.objects.filter(last_failure_at__lt=at - FORGET_AFTER, blocked_until__lt=at).delete()
    return 0


def _longest_wait(keys: list[bytes], at: datetime) -> int:
    longest = timedelta(0)
    for row in LoginThrottle.objects.filter(key__in=keys, blocked_until__gt=at):
        longest = max(longest, row.blocked_until - at)
    return math.ceil(longest.total_seconds())


def _count(key: bytes, rule: Rule, at: datetime, *, enforce: bool) -> int:
    """Add one attempt under ``key`` unless (with ``enforce``) a wait applies; returns that wait.

    A compare-and-set: the update applies only if the row is still as it was read, so two attempts
    that read the same count cannot both take the same place; the loser reads again.
    """
    for _ in range(100):
        row = LoginThrottle.objects.filter(key=key).first()
        if row is None:
            try:
                with transaction.atomic():
                    LoginThrottle.objects.create(
                        key=key, failures=1, last_failure_at=at, blocked_until=_until(at, delay_after(1, rule))
                    )
                return 0
            except IntegrityError:
                continue  # created by a parallel attempt a moment ago
        if enforce and row.blocked_until > at:
            return math.ceil((row.blocked_until - at).total_seconds())
        failures = (0 if at - row.last_failure_at > FORGET_AFTER else row.failures) + 1
        taken = LoginThrottle.objects.filter(
            key=key, failures=row.failures, last_failure_at=row.last_failure_at, blocked_until=row.blocked_until
        ).update(
            failures=failures,
            last_failure_at=max(at, row.last_failure_at),
            blocked_until=max(row.blocked_until, _until(at, delay_after(failures, rule))),
        )
        if taken:
            return 0
    raise RuntimeError("the sign-in throttle could not count an attempt")  # 100 lost races: never in practice


def record_success(attempt: Attempt) -> None:
    """The check passed: this account's counts are cleared, and the source gets back the place the
    attempt took. The source's earlier failures only fade with time, so an attacker cannot reset
    them by signing in to an account of their own."""
    at = now()
    LoginThrottle.objects.filter(key__in=[attempt.pair, attempt.account]).delete()
    for _ in range(100):
        row = LoginThrottle.objects.filter(key=attempt.source).first()
        if row is None or row.failures == 0:
            return
        failures = row.failures - 1
        if LoginThrottle.objects.filter(
            key=attempt.source, failures=row.failures, last_failure_at=row.last_failure_at
        ).update(failures=failures, blocked_until=min(row.blocked_until, _until(at, delay_after(failures, SOURCE)))):
            return


# --- the "known browser" cookie ----------------------------------------------------------------------


def account_hash(username: str) -> str:
    return _key("known", _account(username)).hex()[:32]


def known_accounts(request: HttpRequest) -> list[str]:
    raw = request.COOKIES.get(KNOWN_BROWSER_COOKIE)
    if not raw:
        return []
    try:
        value = signing.loads(raw, salt=_KNOWN_SALT, max_age=_KNOWN_MAX_AGE)
    except signing.BadSignature:
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def remember_browser(request: HttpRequest, response: HttpResponse, username: str) -> None:
    accounts = [account_hash(username), *(a for a in known_accounts(request) if a != account_hash(username))]
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        signing.dumps(accounts[:_KNOWN_MAX_ACCOUNTS], salt=_KNOWN_SALT),
        max_age=_KNOWN_MAX_AGE,
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )
