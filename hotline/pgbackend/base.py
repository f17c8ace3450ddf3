"""Django's PostgreSQL backend, with a cheaper health check (``CONN_HEALTH_CHECKS``).

Django checks a kept connection before the first statement of every request by running ``SELECT 1``
on it: a round trip, on the webhook's path about one statement in twenty. Here the check first asks
the connection's socket whether the server has said anything since the last statement. A server
that restarts, or ends the session (``pg_terminate_backend``, ``idle_session_timeout``), sends an
error and closes the connection, so the socket turns readable; an idle connection that is fine
receives nothing (no ``LISTEN``, no query in flight). Only when the socket is readable, the driver
already knows the connection is broken, or a transaction is open, does Django's ``SELECT 1`` run —
and then, as before, a connection that fails it is closed and the next statement opens a new one.

A server that vanished without a word (a network cut, a host powered off) is not seen by either
check before a statement is sent: ``SELECT 1`` would have waited for TCP's timeout as the first
statement does. Everything else is Django's backend.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base


def quiet(raw: Any) -> bool:
    """True when the psycopg connection ``raw`` is open, idle, and nothing has arrived on its socket."""
    import psycopg
    from psycopg.pq import ConnStatus, TransactionStatus

    if raw.closed or raw.broken:
        return False
    pgconn = raw.pgconn
    if pgconn.status != ConnStatus.OK or pgconn.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        enabled, done = getattr(self, "health_check_enabled", False), getattr(self, "health_check_done", False)
        if self.connection is not None and enabled and not done and not self.pool and quiet(self.connection):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
