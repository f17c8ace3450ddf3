"""Broadcast delivery: a post sent to N subscribers through real `hotline worker` processes and the
Telegram emulator (API latency 50–100 ms, Telegram's limits: a global rate and one message a second
per chat), while an operator keeps replying to an applicant.

    python bench/broadcast.py [--database sqlite|postgres] [--subscribers 10000] [--rate 30]
                              [--workers 1|2] [--kill] [--replies 20]

Measures, in one run:
* messages per second against the limit set in the run (goal: at least 95 %), and the 429s Telegram
  answered (each one is a limit the workers failed to keep);
* the latency of an operator's reply to an applicant sent during the broadcast, from its commit to
  Telegram (goal: p99 under 2 s) — the same-run baseline is the API latency itself;
* with ``--kill``: one worker is killed (SIGKILL) when 30 % is sent and a new one started; at the end
  every subscriber's count of messages tells what was lost (goal: 0) and duplicated (goal: no more
  than the messages that were in flight, at most ``HOTLINE_OUTBOX_CONCURRENCY`` per worker).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
TOKEN = "123456:bench-broadcast"  # noqa: S105 (the emulator's token)
LEASE_SECONDS = 10  # how soon a killed worker's rows are taken over


def _postgres_database() -> tuple[str, str]:
    import dj_database_url
    import psycopg

    name = f"bench_broadcast_{os.getpid()}"
    db = dj_database_url.parse(PG_URL)
    params: dict[str, Any] = {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432}
    if db.get("USER"):
        params["user"] = db["USER"]
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_URL.rsplit("/", 1)[0] + "/" + name, name


def _drop_postgres(name: str) -> None:
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(PG_URL)
    params: dict[str, Any] = {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432}
    if db.get("USER"):
        params["user"] = db["USER"]
    with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _seed(subscribers: list[int], applicant: int) -> tuple[Any, Any, Any]:
    """Subscribers, an applicant with an open case, a published post; in this process (Django set up)."""
    from django.db import transaction
    from django.utils import timezone

    from hotline.accounts.models import User
    from hotline.accounts.staff import actor_of
    from hotline.cases import actions
    from hotline.channels.telegram.models import TelegramChat
    from hotline.core.actor import Actor
    from hotline.core.metadata import ChannelKind
    from hotline.news.models import Post, PostText, Subscriber

    now = timezone.now()
    with transaction.atomic():
        identities = [actions.get_or_create_identity(ChannelKind.TELEGRAM, str(chat)) for chat in subscribers]
        TelegramChat.objects.bulk_create(
            [TelegramChat(identity=i, last_activity=now) for i in identities], batch_size=1000
        )
        Subscriber.objects.bulk_create(
            [Subscriber(identity=i, language="ru", created_at=now) for i in identities], batch_size=1000
        )
    intake = Actor.system("telegram")
    case = actions.do_open_case(intake, channel=ChannelKind.TELEGRAM, address=str(applicant), language="ru")
    with transaction.atomic():
        found = actions.find_identity(ChannelKind.TELEGRAM, str(applicant))
        assert found is not None
        TelegramChat.objects.create(identity=found, last_activity=now)
    admin = User.objects.get(username="bench")
    post = Post.objects.create(
        title="bench", state=Post.State.PUBLISHED, created_at=now, updated_at=now, published_at=now, created_by=admin
    )
    PostText.objects.create(post=post, language="ru", text="<b>Новости горячей линии</b>: как связаться с нами.")
    return actor_of(admin), case, post


def _start_worker(env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hotline", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hotline.testing.telegram_emulator import TelegramEmulator
    from hotline.testing.telegram_emulator_state import RateLimits

    tmp = tempfile.TemporaryDirectory(prefix="hotline-bench-broadcast-")
    emulator = TelegramEmulator(
        TOKEN,
        rate_limits=RateLimits(global_rate=float(args.rate), per_chat_rate=1.0, per_chat_burst=3),
        latency=(args.latency_low, args.latency_high),
        latency_seed=7,
    ).start()
    pg_name = None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "TELEGRAM_"))}
    env.update(
        {
            "HOTLINE_DATA_DIR": tmp.name,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": emulator.base_url,
            "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_GLOBAL_RATE": str(max(1, args.rate // args.workers)),
            "HOTLINE_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "HOTLINE_LOG_LEVEL": "WARNING",
        }
    )
    if args.database == "postgres":
        env["DATABASE_URL"], pg_name = _postgres_database()
    password = Path(tmp.name) / "pw"
    password.write_text("a long benchmark password")
    setup = [sys.executable, "-m", "hotline", "setup", "--username", "bench", "--password-file", str(password)]
    subprocess.run([*setup, "--json"], env=env, check=True, cwd=ROOT, capture_output=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hotline.settings"
    import django

    django.setup()
    from hotline.cases import actions
    from hotline.core.metadata import ChannelKind, Direction
    from hotline.news import broadcasts
    from hotline.news.models import Broadcast

    subscribers = emulator.add_users(args.subscribers, language_code="ru")
    (applicant,) = emulator.add_users(1, language_code="ru", first_id=subscribers[-1] + 1000)
    seeded = time.monotonic()
    actor, case, post = _seed(subscribers, applicant)
    seed_seconds = time.monotonic() - seeded

    log = open(os.environ.get("BENCH_WORKER_LOG", os.devnull), "w")  # noqa: SIM115
    workers = [_start_worker(env, log) for _ in range(args.workers)]
    # The workers are up when a first reply has gone through (their start-up is not the broadcast's).
    actions.do_add_message(actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body="warm-up")
    warm_deadline = time.monotonic() + 120
    while not any(m.text == "warm-up" for m in emulator.chat(applicant)) and time.monotonic() < warm_deadline:
        time.sleep(0.05)
    emulator.reset_counters()
    started = time.monotonic()
    broadcast = broadcasts.do_start_broadcast(actor, post, "ru")
    enqueue_seconds = time.monotonic() - started

    # Operator replies during the broadcast, one a second, each timed to its arrival at Telegram.
    sent_at: dict[str, float] = {}
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for message in emulator.chat(applicant):
                if message.from_bot and message.text in sent_at and message.text not in arrived:
                    arrived[message.text] = time.monotonic()
            stop.wait(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    killed = False
    samples: list[tuple[float, int]] = []
    # Replies spread over the broadcast's expected length (at least one a second: the per-chat limit).
    spacing = max(1.0, args.subscribers / args.rate / max(1, args.replies + 1))
    next_reply = started + spacing
    replies = 0
    subscriber_set = set(subscribers)
    deadline = started + args.subscribers / args.rate * 3 + 120
    while time.monotonic() < deadline:
        counts = emulator.sent_counts()
        done = sum(1 for chat in counts if chat in subscriber_set)
        samples.append((time.monotonic(), done))
        if args.kill and not killed and done >= args.subscribers * 0.3:
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
            workers[0] = _start_worker(env, log)
            killed = True
        if replies < args.replies and time.monotonic() >= next_reply:
            text = f"reply {replies}"
            actions.do_add_message(actor, case, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body=text)
            sent_at[text] = time.monotonic()
            replies += 1
            next_reply += spacing
        state = Broadcast.objects.get(pk=broadcast.pk).state
        if state == Broadcast.State.DONE and len(arrived) >= replies >= min(args.replies, 1):
            break
        time.sleep(0.2)
    finished = time.monotonic()
    stop.set()
    watcher.join()
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    counts = emulator.sent_counts()
    stats = emulator.stats()
    emulator.stop()
    final = Broadcast.objects.get(pk=broadcast.pk)
    per_subscriber = [counts.get(chat, 0) for chat in subscribers]
    # The rate: from the first to the last message, and in the steady middle (10 % to 90 % sent).
    first = next((t for t, n in samples if n > 0), started)
    last = next((t for t, n in samples if n >= args.subscribers), finished)

    def when(fraction: float) -> float:
        return next((t for t, n in samples if n >= args.subscribers * fraction), finished)

    steady = args.subscribers * 0.8 / max(1e-9, when(0.9) - when(0.1))
    overall = args.subscribers / max(1e-9, last - first)
    latencies = sorted((arrived[t] - sent_at[t]) * 1000 for t in arrived)
    result = {
        "database": args.database,
        "workers": args.workers,
        "subscribers": args.subscribers,
        "limit_per_second": args.rate,
        "api_latency_ms": [args.latency_low * 1000, args.latency_high * 1000],
        "seed_seconds": round(seed_seconds, 1),
        "enqueue_seconds": round(enqueue_seconds, 2),
        "broadcast_state": final.state,
        "counters": {"sent": final.sent, "failed": final.failed, "blocked": final.blocked},
        "messages_per_second": round(overall, 2),
        "messages_per_second_steady": round(steady, 2),
        "of_limit": round(overall / args.rate, 3),
        "of_limit_steady": round(steady / args.rate, 3),
        "rate_limited_429": stats.get("rate_limited", 0),
        "reply_latency_ms": {
            "replies": replies,
            "arrived": len(latencies),
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
        },
        "killed_a_worker": killed,
        "lost": sum(1 for n in per_subscriber if n == 0),
        "duplicated": sum(n - 1 for n in per_subscriber if n > 1),
        "in_flight_bound": int(os.environ.get("HOTLINE_OUTBOX_CONCURRENCY", "32")),
        "seconds": round(finished - started, 1),
    }
    if pg_name:
        from django.db import connections

        connections.close_all()
        _drop_postgres(pg_name)
    tmp.cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=30, help="Telegram's global limit in the run (messages/s)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kill", action="store_true", help="kill a worker when 30%% is sent")
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument("--latency-low", type=float, default=0.05)
    parser.add_argument("--latency-high", type=float, default=0.10)
    args = parser.parse_args()
    print(json.dumps({"benchmark": "broadcast", "run": run(args)}, indent=2))


if __name__ == "__main__":
    main()
