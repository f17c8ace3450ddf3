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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
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


def wait_seconds(attempt: Attempt, now: datetime | None = None) -> int:
    """Seconds this attempt must still wait (0: go ahead)."""
    now = now or timezone.now()
    keys = [key for key, _ in attempt.rules()]
    longest = timedelta(0)
    for row in LoginThrottle.objects.filter(key__in=keys, blocked_until__gt=now):
        longest = max(longest, row.blocked_until - now)
    return math.ceil(longest.total_seconds())


def record_failure(attempt: Attempt) -> None:
    """Count one failure under every key (the account key too: a known browser is exempt from the
    account-wide wait, not from adding to it)."""
    now = timezone.now()
    with transaction.atomic():
        for key, rule in [(attempt.pair, PAIR), (attempt.source, SOURCE), (attempt.account, ACCOUNT)]:
            row = LoginThrottle.objects.select_for_update().filter(key=key).first()
            if row is None:
                row = LoginThrottle(key=key, failures=0, last_failure_at=now, blocked_until=now)
            elif now - row.last_failure_at > FORGET_AFTER:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            row.blocked_until = now + delay_after(row.failures, rule)
            row.save()
        LoginThrottle.objects.filter(last_failure_at__lt=now - FORGET_AFTER, blocked_until__lt=now).delete()


def record_success(attempt: Attempt) -> None:
    """A successful sign-in clears this account's counts; the source's count only fades with time,
    so an attacker cannot reset it by signing in to an account of their own."""
    LoginThrottle.objects.filter(key__in=[attempt.pair, attempt.account]).delete()


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
