"""Phone line throughput: whole calls through the voice webhooks, placed by the provider emulator
(``hotline/testing/voice_emulator.py``) over real HTTP against ``hotline serve``, beside a bare-HTTP
baseline (``/ping``) measured in the same run on the same server with the same concurrency.

Each simulated caller (a new number each call) chooses a language, hears a page text, then leaves a
short voice message, either straight from the menu or after asking for an operator when nobody is on
duty (so the "all operators are busy" branch runs too). Every webhook POST is timed in the transport.

    python bench/voice.py [--database sqlite|postgres] [--calls 1024] [--concurrency 32] [--workers 2]
                          [--postgres-url postgres://postgres@127.0.0.1:5432/test]

On PostgreSQL the benchmark creates a database with a name of its own (``bench_voice_<pid>_<hex>``) on
the server of ``--postgres-url`` (or BENCH_PG_URL) and drops it at the end.

Prints one JSON object: webhook latency (p50/p99, overall and per webhook), calls per second, the
``/ping`` baseline's requests per second and p99, and failures: any webhook that did not answer 2xx
and any call whose ``errors`` are not empty (the emulator records Twilio's error and warning codes).
The server runs without its worker (voicemails stay queued to be fetched): this measures the webhooks.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.telegram_ingest import Server  # noqa: E402
from hotline.testing.voice_emulator import Call, HttpTransport, Speech, VoiceProvider  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
ACCOUNT = "AC" + "b0" * 16
TOKEN = "bench-voice-auth-token"  # noqa: S105 (a benchmark-only secret)
NUMBER = "+15550100"
# What callers press, in turn: language, a page text, then voicemail (4) or an operator (3: nobody is
# on duty, so the hotline offers voicemail). Every call leaves a 3-second message ended with #.
PLANS: list[list[str | None]] = [
    ["3", "1", "4"],  # English, how it works, voicemail
    ["1", "2", "3"],  # Russian, guarantees, an operator: nobody on duty, voicemail
    ["2", "6", "4"],  # Ukrainian, contacts, voicemail
    ["3", "2", "3"],  # English, guarantees, an operator: nobody on duty, voicemail
]
MESSAGE = Speech(seconds=3, end="#")


@dataclass
class Timings:
    """Latencies (seconds) and statuses of requests, from many threads."""

    latencies: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.by_path.setdefault(path, []).append(seconds)
            key = str(status) if status else "connection-failed"
            self.statuses[key] = self.statuses.get(key, 0) + 1
            self.failed += not 200 <= status < 300


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 2),
    }


class TimingTransport:
    """``HttpTransport``, with each POST timed (a connection failure counts as status 0)."""

    def __init__(self, timings: Timings, timeout: float = 60.0) -> None:
        self.inner = HttpTransport(timeout=timeout)
        self.timings = timings

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        started = time.perf_counter()
        status = 0
        try:
            status, body = self.inner.post(url, params, headers)
            return status, body
        finally:
            self.timings.record(urlsplit(url).path, time.perf_counter() - started, status)


class VoiceServer(Server):
    """The Telegram benchmark's server (fresh data directory, ``hotline setup``, ``hotline serve
    --no-worker``) with the phone line configured, and on PostgreSQL a database of this run's own."""

    def __init__(self, database: str, workers: int, threads: int | None, pg_url: str) -> None:
        self.pg_url = pg_url
        self.pg_database: str | None = None
        super().__init__(database, workers, threads)
        self.env = {k: v for k, v in self.env.items() if not k.startswith("VOICE_")}
        self.env.update(
            {
                "TELEGRAM_MODE": "off",
                "VOICE_AUTH_TOKEN": TOKEN,
                "VOICE_ACCOUNT_SID": ACCOUNT,
                "VOICE_NUMBER": NUMBER,
                "VOICE_PUBLIC_URL": self.url,
                "VOICE_API_BASE": "http://127.0.0.1:9",  # the worker does not run: never used
            }
        )

    def _admin(self) -> Any:
        import dj_database_url
        import psycopg

        db = dj_database_url.parse(self.pg_url)
        return psycopg.connect(
            dbname=db["NAME"],
            autocommit=True,
            host=db.get("HOST") or "127.0.0.1",
            port=db.get("PORT") or 5432,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
        )

    def _reset_postgres(self) -> str:
        """A new database with a name of this run's own, dropped at the end."""
        self.pg_database = f"bench_voice_{os.getpid()}_{secrets.token_hex(3)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.pg_database}"')
        return self.pg_url.rsplit("/", 1)[0] + "/" + self.pg_database

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        finally:
            if self.pg_database is not None:
                with self._admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')


def provider_for(url: str, timings: Timings) -> VoiceProvider:
    provider = VoiceProvider(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        number=NUMBER,
        incoming_url=f"{url}/voice/incoming",
        status_url=f"{url}/voice/status",
        transport=TimingTransport(timings),
    )
    provider.calls_per_second = None
    return provider


def in_threads(concurrency: int, count: int, job: Callable[[int], None]) -> float:
    """Run ``job(0..count-1)`` on ``concurrency`` threads; the seconds it took."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(job, n) for n in range(count)]:
            future.result()
    return time.perf_counter() - started


def run_calls(url: str, concurrency: int, count: int, first_number: int) -> dict[str, Any]:
    timings = Timings()
    provider = provider_for(url, timings)
    placed: list[Call] = []
    crashed: list[str] = []
    lock = threading.Lock()

    def one_call(n: int) -> None:
        try:
            call = provider.place_call(f"+1{first_number + n:010d}", presses=PLANS[n % len(PLANS)], speech=MESSAGE)
        except Exception as exc:  # counted, never hidden
            with lock:
                crashed.append(type(exc).__name__)
            return
        with lock:
            placed.append(call)

    elapsed = in_threads(concurrency, count, one_call)
    with_errors = [c for c in placed if c.errors]
    error_codes: dict[str, int] = {}
    for call in with_errors:
        for error in call.errors:
            error_codes[str(error.code)] = error_codes.get(str(error.code), 0) + 1
    voicemails = sum(1 for c in placed if c.recordings and any("/voice/recorded" in w.url for w in c.webhooks))
    return {
        "calls": count,
        "completed": sum(1 for c in placed if c.status == "completed"),
        "voicemails_recorded": voicemails,
        "calls_per_second": round(count / elapsed, 2),
        "webhooks": len(timings.latencies),
        "webhooks_per_call": round(len(timings.latencies) / max(1, count), 1),
        "webhooks_per_second": round(len(timings.latencies) / elapsed, 1),
        "webhook_latency": percentiles(timings.latencies),
        "webhook_latency_by_path": {path: percentiles(values) for path, values in sorted(timings.by_path.items())},
        "statuses": timings.statuses,
        "failures": {
            "non_2xx_webhooks": timings.failed,
            "calls_with_errors": len(with_errors),
            "error_codes": error_codes,
            "calls_that_raised": len(crashed),
        },
        "seconds": round(elapsed, 2),
    }


def run_ping(url: str, concurrency: int, count: int) -> dict[str, Any]:
    """GET /ping ``count`` times on ``concurrency`` threads, with the same HTTP client as the webhooks
    (urllib, a new connection per request)."""
    timings = Timings()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def one(_: int) -> None:
        started = time.perf_counter()
        status = 0
        try:
            with opener.open(f"{url}/ping", timeout=60) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        timings.record("/ping", time.perf_counter() - started, status)

    elapsed = in_threads(concurrency, count, one)
    return {
        "requests": count,
        "failed": timings.failed,
        "requests_per_second": round(count / elapsed, 1),
        **percentiles(timings.latencies),
    }


def bench(
    database: str, calls: int, concurrency: int, workers: int, threads: int | None, pg_url: str
) -> dict[str, Any]:
    with VoiceServer(database, workers, threads, pg_url) as server:
        run_calls(server.url, concurrency, min(calls, 2 * concurrency), first_number=5_550_000_000)  # warm up
        cpu_before = server.cpu_seconds()
        result = run_calls(server.url, concurrency, calls, first_number=5_560_000_000)
        cpu_after = server.cpu_seconds()
        ping = run_ping(server.url, concurrency, result["webhooks"])
    if cpu_before is not None and cpu_after is not None:
        result["server_cpu_ms_per_call"] = round((cpu_after - cpu_before) * 1000 / max(1, calls), 1)
    return {
        "benchmark": "voice",
        "database": database,
        "concurrency": concurrency,
        "web_workers": workers,
        "web_threads": threads or "default (HOTLINE_WEB_THREADS)",
        "writer": "one writer process" if database == "sqlite" else "a writer thread per web process",
        "calls": result,
        "baseline_ping": ping,
        "ratio_webhooks_to_ping_per_second": round(result["webhooks_per_second"] / ping["requests_per_second"], 3),
        "failures": sum(result["failures"][k] for k in ("non_2xx_webhooks", "calls_with_errors", "calls_that_raised"))
        + ping["failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=32, help="callers at once (threads)")
    parser.add_argument("--workers", type=int, default=2, help="web processes")
    parser.add_argument("--threads", type=int, default=None, help="request threads per web process")
    parser.add_argument(
        "--postgres-url",
        default=PG_URL,
        help="a server and a database to connect to; the benchmark creates (and drops) a database of its own there",
    )
    args = parser.parse_args()
    result = bench(args.database, args.calls, args.concurrency, args.workers, args.threads, args.postgres_url)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
