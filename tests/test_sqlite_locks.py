"""SQLite's locks are POSIX advisory locks: they belong to the process, and closing any descriptor of
a file drops every one the process holds on it. A test that reads the database's files to look for
planted text must therefore read them in a child process (``tests/conftest.py``,
``sqlite_file_bytes``): read here, the connections still open would lose their locks, and processes
started afterwards (the crash test's) would rebuild the WAL index under them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection

from hotline import dbwrite
from tests.conftest import Org, sqlite_file_bytes


def _our_locks(path: Path) -> list[str]:
    """This process's POSIX locks on ``path``, as /proc/locks lists them (type, access, range)."""
    inode = os.stat(path).st_ino
    found = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields:  # a waiter, not a lock held
                continue
            if fields[1] == "POSIX" and fields[4] == str(os.getpid()) and fields[5].endswith(f":{inode}"):
                found.append(" ".join(fields[3:4] + fields[6:]))
    return sorted(found)


@pytest.mark.django_db(transaction=True)
def test_reading_the_database_files_keeps_this_process_locks(org_tx: Org) -> None:
    if connection.vendor != "sqlite" or not os.path.exists("/proc/locks"):
        pytest.skip("SQLite's POSIX locks, as Linux lists them")
    connection.ensure_connection()
    base = Path(connection.settings_dict["NAME"])
    shm = Path(f"{base}-shm")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cases_case")
    held = _our_locks(shm)
    assert held, "an open WAL connection holds a lock on the shared-memory index"
    assert sqlite_file_bytes(base)
    assert _our_locks(shm) == held
    # Read here instead, the same bytes would cost this process its connections' locks.
    shm.read_bytes()
    assert _our_locks(shm) == []
    # Every connection of this process believes it holds locks it no longer has: start them afresh.
    connection.close()
    dbwrite.close_writer_connection()
