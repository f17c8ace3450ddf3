"""Figures at scale: the time to compute a release (every breakdown of a year of cases, counted in
the database and rounded) and to render the public page, at 10k, 100k and 1M cases, in a temporary
database. The 10k timings are the same-run baseline for the ratios (goal: 1M within 5× of 10k, the
page under 1 s at 1M).

    python bench/figures.py [--database sqlite|postgres] [--sizes 10000,100000,1000000]

Cases are written directly with executemany in large batches (the ORM's save per case would take
longer than the measurement), and the counts the actions would keep (the daily tally, the status
counts) are then built from them. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 20_000


def _setup(database: str, data_dir: str, pg_url: str) -> None:
    os.environ["HOTLINE_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
    if database == "postgres":
        import psycopg

        name = f"figures_bench_{os.getpid()}"
        admin = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + "/" + name
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _insert(start: int, stop: int, now: datetime) -> None:
    from django.db import connection, transaction

    from hotline.cases.models import Case, Message

    rng = random.Random(start)
    channels = ["telegram"] * 6 + ["web"] * 3 + ["phone"]
    categories = ["serviceman", "mobilized", "awaiting_mobilization", "relative", "occupied_resident", "other"]
    regions = ["russia", "crimea", "occupied_other", "belarus", "other", "unknown"]
    statuses = ["new", "triage", "waiting", "ready", "handed_off", "completed", "closed", "rejected"]
    table, messages = Case._meta.db_table, Message._meta.db_table
    # The time of a case's first answer is a column of the case where the schema has one (it came
    # later: the same data can be measured against code from before it, which searched the messages).
    with connection.cursor() as cursor:
        has_first_answer = "first_answer_at" in {
            c.name for c in connection.introspection.get_table_description(cursor, table)
        }
    columns = (
        "id, status, reject_reason, priority, channel, language, category, region, group_size, "
        "public_key, created_at, updated_at"
    ) + (", first_answer_at" if has_first_answer else "")
    values = "%s, %s, '', 'normal', %s, %s, %s, %s, 1, %s, %s, %s" + (", %s" if has_first_answer else "")
    sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"  # noqa: S608
    reply_sql = (
        f"INSERT INTO {messages} (id, case_id, direction, channel, body_sealed, delivery_state, created_at, "  # noqa: S608
        "quarantined) VALUES (%s, %s, 'out', %s, %s, 'sent', %s, %s)"
    )
    postgres = connection.vendor == "postgresql"
    key = b"\0" * 32

    def stored(moment: datetime) -> Any:
        return moment if postgres else moment.replace(tzinfo=None).isoformat(" ")

    def new_id() -> Any:
        return uuid.UUID(int=rng.getrandbits(128)) if postgres else uuid.UUID(int=rng.getrandbits(128)).hex

    for first in range(start, stop, BATCH):
        rows, replies = [], []
        for _i in range(first, min(stop, first + BATCH)):
            created = now - timedelta(seconds=rng.randrange(1, 364 * 86400))
            ident, status, channel = new_id(), rng.choice(statuses), rng.choice(channels)
            # All but new cases were answered by an operator, minutes to hours after they opened.
            answered = None if status == "new" else created + timedelta(minutes=rng.randint(1, 240))
            row = [ident, status, channel, rng.choice(["ru", "ru", "uk", "en"]), rng.choice(categories)]
            row += [rng.choice(regions), key, stored(created), stored(created)]
            if has_first_answer:
                row.append(None if answered is None else stored(answered))
            rows.append(tuple(row))
            if answered is not None:
                replies.append((new_id(), ident, channel, key, stored(answered), False))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
            cursor.executemany(reply_sql, replies)
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


def _timed(function: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _measure(size: int) -> dict[str, Any]:
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from hotline.figures import compute, releases
    from hotline.figures.models import Release

    end = timezone.localdate() - timedelta(days=1)
    wanted = releases.Request(end - timedelta(days=364), end, compute.BREAKDOWNS, {"en": "bench"})
    numbers: dict[str, Any] = {}

    def prepare() -> None:
        numbers.update(releases.published_numbers(wanted, seed=random.getrandbits(62)))

    # The worker's hourly job keeps the daily tally; a release reads it.
    from hotline.figures.models import FigureDay

    FigureDay.objects.all().delete()  # this run added cases to past days: tally them again
    began = time.perf_counter()
    compute.tally(wanted.start, wanted.end)
    tally_s = time.perf_counter() - began
    # The actions keep the status counts as cases open and move; the bench wrote its cases directly.
    from hotline.cases import status_counts

    status_counts.rebuild()
    compute_s = _timed(prepare)
    with transaction.atomic():
        Release.objects.all().delete()
        Release.objects.create(
            state=Release.State.APPROVED,
            period_start=wanted.start,
            period_end=wanted.end,
            breakdowns=list(wanted.breakdowns),
            texts=dict(wanted.texts),
            seed=1,
            published=numbers,
            prepared_at=timezone.now(),
            approved_at=timezone.now(),
            lineage=size,
        )
    from django.conf import settings

    client = Client(HTTP_HOST=next(h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")))
    began = time.perf_counter()
    status = client.get("/en/figures/").status_code
    cold = time.perf_counter() - began
    warm = _timed(lambda: client.get("/en/figures/"))
    period = compute.Period(wanted.start, wanted.end)
    dashboard = _timed(
        lambda: (
            [compute.breakdown(period, name) for name in compute.FIELD_BREAKDOWNS] + [compute.series(period, "day")]
        ),
        repeat=1,
    )
    health = _timed(lambda: compute.queue_health(period), repeat=1)
    return {
        "cases": size,
        "release_compute_s": round(compute_s, 4),
        "tally_once_s": round(tally_s, 4),  # the worker's job, done once per day of history
        "page_cold_s": round(cold, 4),  # charts drawn (once per process and release)
        "page_warm_s": round(warm, 4),
        "page_status": status,
        "dashboard_counts_s": round(dashboard, 4),
        "queue_health_s": round(health, 4),
        "published_total": numbers["total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/x"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="hotline-figures-bench-") as data_dir:
        os.chmod(data_dir, 0o700)
        _setup(args.database, data_dir, args.postgres_url)
        now = datetime.now(UTC)
        results, have = [], 0
        for size in sizes:
            began = time.perf_counter()
            _insert(have, size, now)
            load = time.perf_counter() - began
            have = size
            result = _measure(size)
            result["load_s"] = round(load, 1)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    base = results[0]
    out = {
        "bench": "figures",
        "database": args.database,
        "baseline": {"cases": base["cases"], "release_compute_s": base["release_compute_s"]},
        "results": results,
        "ratios_to_baseline": {
            str(r["cases"]): {
                "release_compute": round(r["release_compute_s"] / max(base["release_compute_s"], 1e-9), 2),
                "page_warm": round(r["page_warm_s"] / max(base["page_warm_s"], 1e-9), 2),
                "queue_health": round(r["queue_health_s"] / max(base["queue_health_s"], 1e-9), 2),
            }
            for r in results
        },
        "goals": {
            "largest_within_5x_of_baseline": results[-1]["release_compute_s"] <= 5 * base["release_compute_s"],
            "page_under_1s_at_largest": results[-1]["page_warm_s"] < 1.0,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
