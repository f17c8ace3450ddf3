"""Fair queueing for SQLite writers.

SQLite admits one writer at a time; a writer that finds the database locked sleeps in growing steps
(up to 100 ms) before trying again, so under load some requests wait for seconds while others get
in. Taking an exclusive ``flock`` on a file beside the database before the write transaction makes
writers queue in the kernel and wake as soon as the previous one commits. On PostgreSQL this is a
no-op: row locks do the job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

_local = threading.local()


@contextlib.contextmanager
def write_turn() -> Iterator[None]:
    if connection.vendor != "sqlite" or getattr(_local, "held", False):
        yield
        return
    path = Path(str(connection.settings_dict["NAME"])).with_suffix(".write-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.held = True
        try:
            yield
        finally:
            _local.held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
