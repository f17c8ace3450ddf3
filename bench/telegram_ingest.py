"""Telegram ingest throughput: updates per second through the webhook end to end
(HTTP → de-duplicated, durable state → replies queued in the outbox), against a bare-HTTP baseline
(``/ping``, a trivial view) measured in the same run on the same server.

Each simulated applicant walks the intake flow the way the bot offers it (/start, buttons, typed
answers), one update after the other, as Telegram delivers them; many applicants run at once.

    python bench/telegram_ingest.py [--database sqlite|postgres|both] [--concurrency 64] [--applicants 400]
    python bench/telegram_ingest.py --database both   # SQLite and PostgreSQL in one run, and their ratio
    python bench/telegram_ingest.py --flood-chats 200 [--flood-connections 40]

Prints one JSON object. With ``--database both`` (the default) it also prints ``postgres_to_sqlite``:
PostgreSQL's rate as a share of SQLite's in the same run, the two p99s, and whether the PostgreSQL goal
holds (at least half of SQLite's rate, p99 under 250 ms, no failure). PostgreSQL runs in a database of
its own named after BENCH_PG_URL's (``<name>_bench``), dropped and created afresh. ``--group-commit
on|off`` sets HOTLINE_GROUP_COMMIT for the server; ``BENCH_SERVER_ENV="NAME=value …"`` sets any other
setting for it. Each run also gives the CPU time one update cost the
server's processes and the load generator (``cpu_per_update``, read from /proc), since both share the
machine.

Flood mode (``--flood-chats N``): a few legitimate applicants (8 at a time) walk their intakes, first
alone, then while N other chats send text messages as fast as Telegram would deliver them (over
``--flood-connections``, Telegram's webhook ``max_connections``, 40 by default). It reports the
legitimate updates' latency both ways (the goal: p99 with the flood within 3× of without), and what
the flood left queued: outbox rows per flooding chat, which the per-chat inbound allowance bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotline.core import flow as engine  # noqa: E402

SECRET = "bench-webhook-secret"  # noqa: S105 (a benchmark-only webhook secret)
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


def intake_inputs() -> list[tuple[str, str]]:
    """The inputs of one complete intake, as (kind, value): ("command", "start"), ("button", data), ("text", …)."""
    flow = engine.load_flow((ROOT / "flows" / "intake.yaml").read_text(encoding="utf-8"))
    inputs: list[tuple[str, str]] = [("command", "start")]
    session, effects = engine.advance(flow, None, engine.Start(language="ru"))
    for _ in range(60):
        ask = next((e for e in reversed(effects) if isinstance(e, engine.Ask)), None)
        if ask is None or session.status != "active":
            break
        step = flow.steps[ask.step]
        if step.kind in ("choice", "yesno"):
            value = "yes" if step.kind == "yesno" else ask.options[0].value
            inputs.append(("button", f"f|{ask.step}|{value}"))
            session, effects = engine.advance(flow, session, engine.Choose(value))
        else:
            text = str(step.min or 3) if step.kind == "number" else f"Ответ на вопрос {ask.step}"
            inputs.append(("text", text))
            session, effects = engine.advance(flow, session, engine.Text(text))
    inputs.append(("text", "Спасибо, жду ответа"))
    return inputs


def make_update(update_id: int, chat_id: int, kind: str, value: str, message_id: int) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "ru"}
    chat = {"id": chat_id, "type": "private", "first_name": "Bench"}
    if kind == "button":
        bot_message = {
            "message_id": message_id,
            "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": 1, "is_bot": True, "first_name": "Hotline"},
            "text": "?",
        }
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"{update_id}",
                "from": user,
                "chat_instance": "1",
                "message": bot_message,
                "data": value,
            },
        }
    text = "/" + value if kind == "command" else value
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1_700_000_000,
        "chat": chat,
        "from": user,
        "text": text,
    }
    if kind == "command":
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A fresh data directory, `hotline setup`, then granian serving the WSGI app (no worker: replies
    stay queued, which is what the ingest path ends with)."""

    def __init__(self, database: str, workers: int, threads: int | None = None, group_commit: str = "default") -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="hotline-bench-")
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
        self.env.update(
            {
                "HOTLINE_DATA_DIR": self.tmp.name,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELEGRAM_BOT_TOKEN": "1:bench",
                "TELEGRAM_MODE": "webhook",
                "HOTLINE_LOG_LEVEL": "WARNING",
            }
        )
        # Settings to try, for any bench built on this server: BENCH_SERVER_ENV="HOTLINE_SQLITE_MMAP_MB=0 …"
        for item in os.environ.get("BENCH_SERVER_ENV", "").split():
            name, _, value = item.partition("=")
            self.env[name] = value
        if threads is not None:
            self.env["HOTLINE_WEB_THREADS"] = str(threads)
        if group_commit != "default":
            self.env["HOTLINE_GROUP_COMMIT"] = "true" if group_commit == "on" else "false"
        if database == "postgres":
            self.env["DATABASE_URL"] = self._reset_postgres()
        self.database = database
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def _reset_postgres(self) -> str:
        """A fresh database of its own (BENCH_PG_URL's name + ``_bench``) on the server of BENCH_PG_URL."""
        import dj_database_url
        import psycopg

        db = dj_database_url.parse(PG_URL)
        params: dict[str, Any] = {
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
        name = f"{db['NAME']}_bench"
        with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return PG_URL.rsplit("/", 1)[0] + "/" + name

    def __enter__(self) -> Server:
        password = Path(self.tmp.name) / "pw"
        password.write_text("a long benchmark password")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hotline",
                "setup",
                "--username",
                "bench",
                "--password-file",
                str(password),
                "--json",
            ],
            env=self.env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hotline",
                "serve",
                "--no-worker",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 300  # migrations on a busy machine can take a while
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()  # stop what did start, rather than leave it running
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # serve stops its children (each in a process group of its own)
            self.proc.wait(timeout=30)
        self.tmp.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the server's processes (its whole session:
        the supervisor, the writer, granian and its workers), read from /proc; None where there is no /proc."""
        if self.proc is None:
            return None
        session = self.proc.pid  # start_new_session made it the session's id
        return cpu_seconds_of(lambda comm, fields: int(fields[3]) == session)


def database_cpu_seconds() -> float | None:
    """CPU time used so far by the PostgreSQL server's processes on this machine (``postgres`` in
    /proc/PID/comm): the database shares the machine, so its CPU per update counts too."""
    return cpu_seconds_of(lambda comm, fields: comm == "postgres")


def processes() -> Iterator[tuple[int, str, list[str]]]:
    """Every process that is not a zombie: its pid, its name (``comm``) and the fields of its
    ``/proc/PID/stat`` after the name (state, parent, group, session, …, utime and stime at 11 and 12)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue  # the process ended meanwhile
        fields = rest.split()
        if fields[0] not in ("Z", "X"):
            yield int(entry), head.partition("(")[2], fields


def cpu_seconds_of(chosen: Callable[[str, list[str]], bool]) -> float | None:
    """CPU time (user + system) used so far by the processes ``chosen(comm, stat fields)`` picks,
    read from /proc; None where there is no /proc."""
    if not os.path.isdir("/proc"):
        return None
    ticks = sum(int(fields[11]) + int(fields[12]) for _, comm, fields in processes() if chosen(comm, fields))
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(
    server: Server, count: Callable[[dict[str, Any]], int], run: Callable[[], Coroutine[Any, Any, dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, float | None]]:
    """Run the load ``run()`` makes and return its result with the CPU it cost per unit (``count`` of
    the result: requests, updates, applications), in milliseconds: the server's, and the load
    generator's (it shares the machine)."""
    server_before, client_before = server.cpu_seconds(), time.process_time()
    database_before = database_cpu_seconds() if server.database == "postgres" else None
    result = asyncio.run(run())
    server_after, client_after = server.cpu_seconds(), time.process_time()
    database_after = database_cpu_seconds() if server.database == "postgres" else None
    units = max(1, count(result))
    server_ms = None if server_before is None or server_after is None else (server_after - server_before)
    cpu: dict[str, float | None] = {
        "server_cpu_ms": None if server_ms is None else round(server_ms * 1000 / units, 3),
        "load_generator_cpu_ms": round((client_after - client_before) * 1000 / units, 3),
    }
    if database_before is not None and database_after is not None:
        # PostgreSQL's own processes (all of them on this machine, so another client's work counts too)
        cpu["database_cpu_ms"] = round((database_after - database_before) * 1000 / units, 3)
    return result, cpu


async def run_load(
    url: str, concurrency: int, applicants: int, inputs: list[tuple[str, str]] | None, first_chat: int = 10_000_000
) -> dict[str, Any]:
    """``inputs`` None: the baseline (GET /ping as many times as the webhook run sends updates)."""
    latencies: list[float] = []
    failures = 0
    statuses: dict[str, int] = {}
    ids = itertools.count(first_chat * 100)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(applicants):
        queue.put_nowait(n)
    per_applicant = len(inputs) if inputs else 12
    # Every update is encoded before the clock starts: the load generator shares the machine with the
    # server, and its own work should cost the server as little as possible.
    bodies: list[list[bytes]] = []
    if inputs is not None:
        for n in range(applicants):
            chat_id = first_chat + n
            bodies.append(
                [
                    json.dumps(make_update(next(ids), chat_id, kind, value, step + 1)).encode()
                    for step, (kind, value) in enumerate(inputs)
                ]
            )
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_client() -> None:
            nonlocal failures
            while not queue.empty():
                n = queue.get_nowait()
                for step in range(per_applicant):
                    started = time.perf_counter()
                    try:
                        if inputs is None:
                            async with session.get(f"{url}/ping") as response:
                                await response.read()
                                ok = response.status == 200
                        else:
                            body = bodies[n][step]
                            async with session.post(f"{url}/telegram/webhook", data=body, headers=headers) as response:
                                await response.read()
                                ok = response.status == 200
                                statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
                    except aiohttp.ClientError as exc:
                        ok = False
                        statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                    latencies.append(time.perf_counter() - started)
                    failures += not ok

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "failed": failures,
        "statuses": statuses,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def outbox_rows(server: Server, database: str) -> int:
    """Rows waiting in the outbox (the bench runs no worker, so every queued send stays there)."""
    if database == "postgres":
        import psycopg

        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            row = conn.execute("SELECT count(*) FROM outbox_outboxmessage").fetchone()
            return int(row[0]) if row else 0
    import sqlite3

    with sqlite3.connect(Path(server.tmp.name) / "hotline.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM outbox_outboxmessage").fetchone()[0])


async def flood(url: str, chats: int, connections: int, stop: asyncio.Event) -> dict[str, Any]:
    """``chats`` chats sending text messages as fast as ``connections`` connections carry them, until ``stop``."""
    statuses: dict[str, int] = {}
    sent = 0
    ids = itertools.count(50_000_000)
    next_chat = itertools.cycle(range(chats))
    message_ids = [0] * chats
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_connection() -> None:
            nonlocal sent
            while not stop.is_set():
                n = next(next_chat)
                message_ids[n] += 1
                body = json.dumps(make_update(next(ids), 20_000_000 + n, "text", "spam spam spam", message_ids[n]))
                try:
                    async with session.post(f"{url}/telegram/webhook", data=body, headers=headers) as response:
                        await response.read()
                        statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
                except aiohttp.ClientError as exc:
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                sent += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return {
        "chats": chats,
        "connections": connections,
        "updates": sent,
        "per_second": round(sent / elapsed, 1),
        "statuses": statuses,
    }


async def legitimate_under_flood(
    url: str, applicants: int, inputs: list[tuple[str, str]], chats: int, connections: int, first_chat: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    stop = asyncio.Event()

    async def legitimate() -> dict[str, Any]:
        try:
            return await run_load(url, 8, applicants, inputs, first_chat=first_chat)
        finally:
            stop.set()

    return await asyncio.gather(legitimate(), flood(url, chats, connections, stop))


def bench_flood(
    database: str, applicants: int, workers: int, threads: int | None, chats: int, connections: int
) -> dict[str, Any]:
    inputs = intake_inputs()
    with Server(database, workers, threads) as server:
        asyncio.run(run_load(server.url, 8, 8, inputs, first_chat=30_000_000))  # warm up
        start = outbox_rows(server, database)
        quiet = asyncio.run(run_load(server.url, 8, applicants, inputs, first_chat=31_000_000))
        legitimate_rows = outbox_rows(server, database) - start
        loud, flooded = asyncio.run(
            legitimate_under_flood(server.url, applicants, inputs, chats, connections, first_chat=32_000_000)
        )
        queued_by_flood = outbox_rows(server, database) - start - 2 * legitimate_rows
    return {
        "database": database,
        "web_workers": workers,
        "legitimate_applicants": applicants,
        "updates_per_applicant": len(inputs),
        "inbound_allowance": "TELEGRAM_INBOUND_BURST / TELEGRAM_INBOUND_PER_MINUTE defaults (20 / 20)",
        "legitimate_without_flood": quiet,
        "legitimate_with_flood": loud,
        "flood": {**flooded, "outbox_rows_per_flooding_chat": round(queued_by_flood / chats, 2)},
        "p99_ratio_with_to_without_flood": round(loud["p99_ms"] / quiet["p99_ms"], 2),
        "p50_ratio_with_to_without_flood": round(loud["p50_ms"] / quiet["p50_ms"], 2),
    }


def bench(
    database: str, concurrency: int, applicants: int, workers: int, threads: int | None, group_commit: str = "default"
) -> dict[str, Any]:
    inputs = intake_inputs()
    with Server(database, workers, threads, group_commit) as server:
        asyncio.run(run_load(server.url, concurrency, 20, None))  # warm up
        # and the webhook's path (each web process loads aiogram with its first update, the writer too)
        asyncio.run(run_load(server.url, concurrency, concurrency, inputs, first_chat=90_000_000))
        baseline, ping_cpu = measured(
            server, lambda r: r["requests"], lambda: run_load(server.url, concurrency, applicants, None)
        )
        webhook, webhook_cpu = measured(
            server, lambda r: r["requests"], lambda: run_load(server.url, concurrency, applicants, inputs)
        )
        baseline["cpu_per_request"] = ping_cpu
        webhook["cpu_per_update"] = webhook_cpu
    return {
        "database": database,
        "concurrency": concurrency,
        "applicants": applicants,
        "updates_per_applicant": len(inputs),
        "web_workers": workers,
        "web_threads": threads or "default (HOTLINE_WEB_THREADS)",
        # hotline serve runs one writer process on SQLite and a writer thread per web process on
        # PostgreSQL, unless HOTLINE_GROUP_COMMIT turns group commit off.
        "writer": _writer(database, group_commit),
        "baseline_ping": baseline,
        "webhook": webhook,
        "ratio_to_baseline": round(webhook["per_second"] / baseline["per_second"], 3),
    }


def _writer(database: str, group_commit: str) -> str:
    settings = dict(item.partition("=")[::2] for item in os.environ.get("BENCH_SERVER_ENV", "").split())
    if group_commit == "default" and "HOTLINE_GROUP_COMMIT" in settings:
        group_commit = "off" if settings["HOTLINE_GROUP_COMMIT"].lower() in ("0", "false", "no", "off") else "on"
    if group_commit == "off":
        return "each request commits its own transaction (group commit off)"
    if database == "sqlite":
        return "one writer process (group commit)"
    return "a writer thread per web process (group commit)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--applicants", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="request threads per web process")
    parser.add_argument(
        "--group-commit",
        choices=["default", "on", "off"],
        default="default",
        help="HOTLINE_GROUP_COMMIT for the server (default: its default, on)",
    )
    parser.add_argument("--flood-chats", type=int, default=0, help="flood mode: this many flooding chats")
    parser.add_argument("--flood-connections", type=int, default=40, help="flood mode: webhook connections")
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if args.flood_chats:
        applicants = min(args.applicants, 60)
        runs = [
            bench_flood(db, applicants, args.workers, args.threads, args.flood_chats, args.flood_connections)
            for db in databases
        ]
        print(json.dumps({"benchmark": "telegram_ingest_flood", "runs": runs}, indent=2))
        return
    results = [
        bench(db, args.concurrency, args.applicants, args.workers, args.threads, args.group_commit) for db in databases
    ]
    report: dict[str, Any] = {"benchmark": "telegram_ingest", "runs": results}
    if len(results) == 2:
        report["postgres_to_sqlite"] = compare(results[0], results[1])
    print(json.dumps(report, indent=2))


def compare(sqlite: dict[str, Any], postgres: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL against SQLite in the same run, and the goal for PostgreSQL: at least half of SQLite's
    rate, a p99 under 250 ms, nothing failed."""
    lite, pg = sqlite["webhook"], postgres["webhook"]
    ratio = round(pg["per_second"] / lite["per_second"], 3)
    return {
        "rate_ratio": ratio,
        # The same against each database's own /ping baseline: the two runs follow each other, and on a
        # shared machine the load can change between them.
        "ratio_of_ratios_to_baseline": round(postgres["ratio_to_baseline"] / sqlite["ratio_to_baseline"], 3),
        "sqlite_per_second": lite["per_second"],
        "postgres_per_second": pg["per_second"],
        "sqlite_p99_ms": lite["p99_ms"],
        "postgres_p99_ms": pg["p99_ms"],
        "postgres_failed": pg["failed"],
        "goal_met": ratio >= 0.5 and pg["p99_ms"] < 250 and pg["failed"] == 0,
    }


if __name__ == "__main__":
    main()
