"""Flood and guessing limits, in memory, keyed by a keyed hash of the client address.

The address itself is never stored or logged: each process hashes it with a random key made at
start-up (BLAKE2b, 16 bytes) and keeps token buckets under the hash, in a bounded table (the least
recently seen keys are forgotten first). Limits therefore apply per web process; with N processes a
client may get up to N times a limit.

* every portal request: a per-client bucket (``HOTLINE_PORTAL_CLIENT_RATE``, burst 5×), checked by
  the middleware before the request reaches sessions, views or the database;
* starting a form: a per-client bucket and a global one — a start costs no database write, but each
  started form can create one identity at its first answer;
* receipt look-ups that find nothing: a per-client bucket and a global one. A client whose own
  bucket is full (it has not failed lately) is let through even when the global bucket is empty,
  so a distributed guesser slows down without locking out the applicant who types a correct
  receipt. A receipt the check character rejects costs no look-up and is not counted.

Addresses are coarsened so one machine is one client: IPv6 to its /64, except the range Tor uses
for per-circuit addresses (``HiddenServiceExportCircuitID haproxy``), where each circuit counts alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from hotline import clientaddr
from hotline.core.ratelimit import TokenBucket

_PROCESS_KEY = secrets.token_bytes(32)


def _new_process_key() -> None:
    """A process forked from this one (``hotline serve``'s children) makes a key of its own."""
    global _PROCESS_KEY
    _PROCESS_KEY = secrets.token_bytes(32)


os.register_at_fork(after_in_child=_new_process_key)
# Tor's HiddenServiceExportCircuitID haproxy gives each circuit an address in this range.
TOR_CIRCUITS = ipaddress.IPv6Network("fc00:dead:beef:4dad::/64")
MAX_CLIENTS = 50_000


def client_address(request: HttpRequest) -> str:
    """The client; each Tor circuit (onion service traffic) counts as its own client."""
    return clientaddr.client_source(request, whole=(TOR_CIRCUITS,))


def client_key(request: HttpRequest) -> bytes:
    """A per-process pseudonym of the client address: equal for one client, meaningless elsewhere."""
    return hashlib.blake2b(client_address(request).encode(), key=_PROCESS_KEY, digest_size=16).digest()


class Buckets:
    """Token buckets per client key, at most ``MAX_CLIENTS`` of them, thread-safe."""

    def __init__(self, rate: float, burst: float, max_clients: int = MAX_CLIENTS) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[bytes, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, key: bytes, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate=self.rate, burst=self.burst, updated=now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def take(self, key: bytes, now: float | None = None) -> float:
        """Take one token: 0.0, or the seconds to wait (nothing taken)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return self._bucket(key, now).take(now)

    def wait(self, key: bytes, now: float | None = None) -> float:
        """Seconds until one token is there, taking none."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            bucket._refill(now)
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate

    def is_full(self, key: bytes, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return True
            bucket._refill(now)
            return bucket.tokens >= bucket.burst

    def __len__(self) -> int:
        return len(self._buckets)


class Global:
    """One bucket for everybody."""

    def __init__(self, rate: float, burst: float) -> None:
        self.bucket = TokenBucket(rate=rate, burst=burst, updated=time.monotonic())
        self._lock = threading.Lock()

    def take(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            return self.bucket.take(now)

    def wait(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self.bucket._refill(now)
            return 0.0 if self.bucket.tokens >= 1 else (1 - self.bucket.tokens) / self.bucket.rate


@dataclass
class Limits:
    requests: Buckets
    starts: Buckets
    all_starts: Global
    receipt_failures: Buckets
    all_receipt_failures: Global

    @classmethod
    def from_settings(cls) -> Limits:
        rate = float(settings.HOTLINE_PORTAL_CLIENT_RATE)
        starts = settings.HOTLINE_PORTAL_CLIENT_STARTS_PER_HOUR / 3600
        all_starts = float(settings.HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND)
        failures = settings.HOTLINE_PORTAL_RECEIPT_FAILURES_PER_HOUR / 3600
        all_failures = float(settings.HOTLINE_PORTAL_GLOBAL_RECEIPT_FAILURES_PER_SECOND)
        return cls(
            requests=Buckets(rate, rate * 5),
            starts=Buckets(starts, max(3.0, starts * 600)),
            all_starts=Global(all_starts, all_starts * 10),
            receipt_failures=Buckets(failures, max(5.0, failures * 600)),
            all_receipt_failures=Global(all_failures, all_failures * 20),
        )

    def admit_request(self, key: bytes) -> float:
        return self.requests.take(key)

    def admit_start(self, key: bytes) -> float:
        """A new form. Both buckets must have a token; the client's is taken first, so a flooder
        empties their own bucket before they can make a dent in everybody's."""
        wait = self.starts.take(key)
        if wait:
            return wait
        return self.all_starts.take()

    def admit_receipt(self, key: bytes) -> float:
        """May this client look a receipt up now? Takes nothing: only failures cost."""
        wait = self.receipt_failures.wait(key)
        if wait:
            return wait
        global_wait = self.all_receipt_failures.wait()
        if global_wait and not self.receipt_failures.is_full(key):
            return global_wait
        return 0.0

    def receipt_failed(self, key: bytes) -> None:
        self.receipt_failures.take(key)
        self.all_receipt_failures.take()


_limits: Limits | None = None
_limits_lock = threading.Lock()


def get() -> Limits:
    global _limits
    if _limits is None:
        with _limits_lock:
            if _limits is None:
                _limits = Limits.from_settings()
    return _limits


def reset() -> None:
    """Forget every bucket (tests, and after changing the settings)."""
    global _limits
    with _limits_lock:
        _limits = None
