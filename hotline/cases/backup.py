"""Consistent database backups that hold no key material.

The key files live outside the database, so a backup of the database alone reveals no content, no
identity and no channel address. Keys are backed up separately (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection


class BackupError(Exception):
    pass


def default_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = "sqlite3" if connection.vendor == "sqlite" else "pgdump"
    return Path(settings.HOTLINE_BACKUP_DIR) / f"hotline-{stamp}.{suffix}"


def backup(target: Path) -> Path:
    """Write a consistent copy of the database to ``target`` (mode 0600) and return its path."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if target.exists():
        raise BackupError(f"{target} already exists")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        if connection.vendor == "sqlite":
            _backup_sqlite(Path(settings.DATABASES["default"]["NAME"]), target)
        elif connection.vendor == "postgresql":
            _backup_postgres(target)
        else:
            raise BackupError(f"no backup method for {connection.vendor}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _backup_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent snapshot while the hotline keeps running."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # Rebuild without free pages, and as a single file (no WAL beside it).
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("VACUUM")
    finally:
        dst.close()
        src.close()


def _backup_postgres(target: Path) -> None:
    """pg_dump in custom format (restore with pg_restore). Uncompressed: the content is ciphertext."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = [pg_dump, "--format=custom", "--compress=0", "--no-owner", f"--file={target}"]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            args.append(f"{flag}={db[key]}")
    args.append(str(db["NAME"]))
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[:500]}")
