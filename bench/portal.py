"""Portal throughput: completed applications per second through the HTTP form path end to end
(the start page, "Start", one post per question, the receipt page), at 8 and at 64 concurrent
applicants, beside a bare-HTTP baseline (``/ping``) measured in the same run on the same server;
then the p99 latency legitimate applicants see with and without a concurrent junk flood.

Each simulated applicant is a new person: a new address (the server trusts X-Forwarded-For, as
behind a reverse proxy); the form travels in the pages' hidden field, as in a browser. The flood
comes from a handful of addresses and mixes what an attacker can send cheaply: form starts, answers
with forged forms, receipt guesses, and page loads.

    python bench/portal.py [--database sqlite|postgres|both] [--applications 400] [--workers 2]

Prints one JSON object, with the CPU time one application cost the server's processes and the load
generator (``cpu_per_application``, read from /proc). The server runs with the default per-client
limits; the global limit on new forms is raised so that it measures capacity, not policy
(HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.telegram_ingest import Server, measured  # noqa: E402
from hotline.core import flow as engine  # noqa: E402

_FIELD = re.compile(r'name="(t|step)" value="([^"]*)"')
_RECEIPT = re.compile(r'class="receipt" id="receipt">([^<]+)<')


def answers() -> dict[str, tuple[str, str]]:
    """What the simulated applicant answers at each step: (form field, value)."""
    flow = engine.load_flow((ROOT / "flows" / "intake.yaml").read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for step in flow.steps.values():
        if step.kind == "yesno":
            out[step.id] = ("value", "yes" if step.id == "consent" else "no")
        elif step.kind == "choice":
            out[step.id] = ("value", step.options[0].value)
        elif step.kind == "number":
            out[step.id] = ("text", str(step.min))
        elif step.kind == "text":
            out[step.id] = ("text", f"Ответ на вопрос {step.id}: несколько слов о себе")
    return out


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    completed: int = 0

    def record(self, started: float, status: str, ok: bool) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.failed += not ok

    def summary(self, elapsed: float) -> dict[str, Any]:
        lat = sorted(self.latencies) or [0.0]
        return {
            "requests": len(self.latencies),
            "failed_requests": self.failed,
            "statuses": self.statuses,
            "requests_per_second": round(len(self.latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 2),
        }


def _address(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


async def one_application(
    session: aiohttp.ClientSession, url: str, n: int, plan: dict[str, tuple[str, str]], stats: Stats
) -> bool:
    headers = {"X-Forwarded-For": _address(n), "Accept-Language": "ru"}

    async def call(method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        started = time.perf_counter()
        try:
            async with session.request(method, url + path, data=data, headers=headers) as response:
                body = await response.text()
                stats.record(started, str(response.status), response.status == 200)
                return response.status, body
        except aiohttp.ClientError as exc:
            stats.record(started, type(exc).__name__, False)
            return 0, ""

    status, _ = await call("GET", "/apply/ru/")
    if status != 200:
        return False
    status, body = await call("POST", "/apply/ru/", {"action": "start"})
    if status != 200:
        return False
    for _ in range(40):
        found = dict(_FIELD.findall(body))
        if "step" not in found:
            break
        name, value = plan[found["step"]]
        data = {"t": found["t"], "step": found["step"], name: value}
        if name == "text":
            data["action"] = "answer"
        status, body = await call("POST", "/apply/ru/", data)
        if status != 200:
            return False
    ok = _RECEIPT.search(body) is not None
    stats.completed += ok
    return ok


async def applications(url: str, concurrency: int, total: int, stop: asyncio.Event | None = None) -> dict[str, Any]:
    plan = answers()
    stats = Stats()
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def client() -> None:
            for n in counter:
                await one_application(session, url, n + 1_000 * concurrency, plan, stats)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if stop is not None:
        stop.set()
    summary = stats.summary(elapsed)
    return {
        "concurrency": concurrency,
        "applications": total,
        "completed": stats.completed,
        "failed_applications": total - stats.completed,
        "completed_per_second": round(stats.completed / elapsed, 1),
        "requests_per_application": round(len(stats.latencies) / max(1, total), 1),
        **summary,
    }


async def baseline(url: str, concurrency: int, requests: int) -> dict[str, Any]:
    stats = Stats()
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for _ in counter:
                started = time.perf_counter()
                try:
                    async with session.get(url + "/ping") as response:
                        await response.read()
                        stats.record(started, str(response.status), response.status == 200)
                except aiohttp.ClientError as exc:
                    stats.record(started, type(exc).__name__, False)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, **stats.summary(elapsed)}


async def junk_flood(url: str, concurrency: int, stop: asyncio.Event) -> dict[str, Any]:
    """What a flooder sends cheaply, from four addresses, until ``stop``."""
    stats = Stats()
    rng = random.Random(7)
    attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    def junk() -> tuple[str, str, dict[str, str] | None, dict[str, str]]:
        headers = {"X-Forwarded-For": rng.choice(attackers)}
        kind = rng.randrange(4)
        if kind == 0:
            return "POST", "/apply/ru/", {"action": "start"}, headers
        if kind == 1:
            forged = "".join(rng.choices(alphabet, k=400))
            return "POST", "/apply/ru/", {"t": forged, "step": "consent", "value": "yes"}, headers
        if kind == 2:
            return "POST", "/ru/receipt/", {"receipt": "".join(rng.choices(alphabet, k=17))}, headers
        return "GET", "/ru/faq/", None, headers

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def client() -> None:
            while not stop.is_set():
                method, path, data, headers = junk()
                started = time.perf_counter()
                try:
                    async with session.request(method, url + path, data=data, headers=headers) as response:
                        await response.read()
                        stats.record(started, str(response.status), response.status < 500)
                except aiohttp.ClientError as exc:
                    stats.record(started, type(exc).__name__, False)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return stats.summary(elapsed)


async def under_flood(url: str, concurrency: int, total: int, flood_clients: int) -> dict[str, Any]:
    stop = asyncio.Event()
    legit, flood = await asyncio.gather(
        applications(url, concurrency, total, stop), junk_flood(url, flood_clients, stop)
    )
    return {"legitimate": legit, "flood": flood}


def bench(database: str, total: int, workers: int, threads: int | None, flood_clients: int) -> dict[str, Any]:
    with PortalServer(database, workers, threads) as server:
        url = server.url
        asyncio.run(applications(url, 8, 16))  # warm up: templates, flow file, connections
        runs = {}
        for concurrency in (8, 64):
            result, cpu = measured(
                server,
                lambda r: r["completed"],
                lambda c=concurrency: applications(url, c, total),  # type: ignore[misc]
            )
            result["cpu_per_application"] = cpu
            ping = asyncio.run(baseline(url, concurrency, result["requests"]))
            runs[str(concurrency)] = {
                "applications": result,
                "baseline_ping": ping,
                "ratio_requests_to_baseline": round(result["requests_per_second"] / ping["requests_per_second"], 3),
            }
        quiet = runs["8"]["applications"]
        flooded = asyncio.run(under_flood(url, 8, total, flood_clients))
    return {
        "database": database,
        "web_workers": workers,
        "web_threads": threads or "default (HOTLINE_WEB_THREADS)",
        # hotline serve runs one writer process on SQLite; on PostgreSQL each web process commits itself.
        "writer": "one writer process" if database == "sqlite" else "a writer thread per web process",
        "runs": runs,
        "flood": {
            "flood_clients": flood_clients,
            "legitimate_p99_ms_without_flood": quiet["p99_ms"],
            "legitimate_p99_ms_with_flood": flooded["legitimate"]["p99_ms"],
            "legitimate_completed_per_second_with_flood": flooded["legitimate"]["completed_per_second"],
            "legitimate_failed_requests_with_flood": flooded["legitimate"]["failed_requests"],
            "legitimate": flooded["legitimate"],
            "junk": flooded["flood"],
        },
    }


class PortalServer(Server):
    """The Telegram benchmark's server (fresh data directory, `hotline setup`, granian), configured
    as a portal behind a reverse proxy."""

    def __init__(self, database: str, workers: int, threads: int | None) -> None:
        super().__init__(database, workers, threads)
        self.env.update(
            {
                "HOTLINE_TRUST_X_FORWARDED_FOR": "true",
                "HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND": "100000",
                "TELEGRAM_MODE": "off",
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--applications", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="request threads per web process")
    parser.add_argument("--flood-clients", type=int, default=32)
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results = [bench(db, args.applications, args.workers, args.threads, args.flood_clients) for db in databases]
    print(json.dumps({"benchmark": "portal", "runs": results}, indent=2))


if __name__ == "__main__":
    main()
