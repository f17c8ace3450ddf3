"""``make test`` runs lint, the SQLite run and the PostgreSQL run whatever each gives, then fails if
any failed: one failure never hides what the others would say.

The Makefile's own targets run here, with stand-ins for ruff, mypy and Python in a throwaway
virtual environment directory that record what was run and answer as told.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "hotline.testing.pgcheck" ]; then exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "pytest" ]; then
    if [ -n "$DATABASE_URL" ]; then echo postgres >> "$RAN"; exit "$POSTGRES_STATUS"; fi
    echo sqlite >> "$RAN"; exit "$SQLITE_STATUS"
fi
exit 0
"""
FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0")" >> "$RAN"
exit "$LINT_STATUS"
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def _make_test(tmp_path: Path, *, lint: int, sqlite: int, postgres: int) -> tuple[int, list[str], str]:
    venv = tmp_path / "venv"
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    for tool in ("ruff", "mypy"):
        (bin_dir / tool).write_text(FAKE_TOOL)
    (bin_dir / "hotline").write_text("")
    (venv / ".test-deps").write_text("")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    # Newer than pyproject.toml, and .test-deps newer than bin/hotline: make sees nothing to install.
    newer = ROOT.joinpath("pyproject.toml").stat().st_mtime + 10
    os.utime(bin_dir / "hotline", (newer, newer))
    os.utime(venv / ".test-deps", (newer + 10, newer + 10))
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "chromium").write_text("#!/bin/sh\n")  # `make browser` finds a browser
    (tmp_path / "path" / "chromium").chmod(0o755)
    ran = tmp_path / "ran"
    ran.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CI", "DATABASE_URL")}
    env |= {
        "PATH": f"{tmp_path / 'path'}:{env['PATH']}",
        "RAN": str(ran),
        "LINT_STATUS": str(lint),
        "SQLITE_STATUS": str(sqlite),
        "POSTGRES_STATUS": str(postgres),
    }
    done = subprocess.run(
        ["make", "-C", str(ROOT), "test", f"VENV={venv}", "PG_URL=postgres://nobody@127.0.0.1:9/none"],
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode, ran.read_text().split(), done.stderr


def test_a_lint_failure_does_not_stop_the_test_runs(tmp_path: Path) -> None:
    status, ran, said = _make_test(tmp_path, lint=1, sqlite=0, postgres=0)
    assert "sqlite" in ran and "postgres" in ran, ran
    assert status != 0 and "failed: lint" in said


def test_a_sqlite_failure_does_not_hide_the_postgresql_run(tmp_path: Path) -> None:
    status, ran, said = _make_test(tmp_path, lint=0, sqlite=1, postgres=0)
    assert ran[-2:] == ["sqlite", "postgres"], ran
    assert status != 0 and "failed: test-sqlite" in said


def test_every_failure_is_named(tmp_path: Path) -> None:
    status, ran, said = _make_test(tmp_path, lint=1, sqlite=1, postgres=1)
    assert {"ruff", "sqlite", "postgres"} <= set(ran)
    assert status != 0 and "failed: lint test-sqlite test-postgres" in said


def test_all_passing_passes(tmp_path: Path) -> None:
    status, ran, said = _make_test(tmp_path, lint=0, sqlite=0, postgres=0)
    assert status == 0, said
    assert ran == ["ruff", "mypy", "mypy", "sqlite", "postgres"]
