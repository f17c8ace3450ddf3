"""Test runs against one PostgreSQL server each get a test database of their own, dropped at the end
(tests/conftest.py). Here two whole pytest runs overlap against the server of this one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.process_support import wait_until

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only"
)
ROOT = Path(__file__).resolve().parents[1]


def _current_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        return str(cursor.fetchone()[0])


def test_this_run_has_a_database_of_its_own(db: None) -> None:
    name = connection.settings_dict["NAME"]
    assert re.fullmatch(rf"test_.+_{os.getpid()}_[0-9a-f]{{6}}", name), name
    assert name != f"test_{settings.DATABASE_URL.rsplit('/', 1)[1]}"
    assert _current_database() == name


@pytest.mark.skipif("RENDEZVOUS" not in os.environ, reason="one of the two runs the test below starts")
def test_one_of_two_runs_at_once(db: None) -> None:
    """Write this run's database name, then wait until the other run has written its own: both
    test databases exist at the same moment, and each run still finds its own."""
    here, me = Path(os.environ["RENDEZVOUS"]), os.environ["RUN"]
    name = connection.settings_dict["NAME"]
    assert _current_database() == name
    (here / f"{me}.name").write_text(name)
    other = here / ("1.name" if me == "0" else "0.name")
    while not other.exists():
        assert not (here / "abort").exists(), "the other run failed"
        time.sleep(0.05)
    assert _current_database() == name


@pytest.mark.slow
@pytest.mark.skipif("RENDEZVOUS" in os.environ, reason="not inside the runs it starts")
def test_two_runs_against_one_server_do_not_collide_and_drop_their_databases(db: None, tmp_path: Path) -> None:
    runs = []
    for run in ("0", "1"):
        env = dict(os.environ) | {
            "RENDEZVOUS": str(tmp_path),
            "RUN": run,
            "HOTLINE_DATA_DIR": str(tmp_path / f"var{run}"),
            "DATABASE_URL": settings.DATABASE_URL,
        }
        runs.append(
            subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", f"{__file__}::test_one_of_two_runs_at_once"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        wait_until(
            lambda: all(r.poll() is not None for r in runs) or any(r.poll() not in (None, 0) for r in runs),
            "both runs ended (or one failed)",
        )
    finally:
        (tmp_path / "abort").touch()  # a run still waiting for a failed one gives up
        outputs = [r.communicate()[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], "\n".join(outputs)
    assert all("1 passed" in out for out in outputs), "\n".join(outputs)
    names = [(tmp_path / f"{run}.name").read_text() for run in ("0", "1")]
    assert names[0] != names[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [names])
        assert cursor.fetchall() == [], "each run dropped its test database at the end"
