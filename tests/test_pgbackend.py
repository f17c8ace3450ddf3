"""The PostgreSQL backend's health check (hotline/pgbackend): no round trip for a connection that is
fine, and a connection the server ended is still replaced before a request's first statement."""

from __future__ import annotations

import select
from unittest import mock

import psycopg
import pytest
from django.db import connection

from hotline import rows
from hotline.pgbackend.base import quiet

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend")


def _new_request() -> None:
    """What Django does when a request starts (``close_old_connections``)."""
    connection.close_if_unusable_or_obsolete()


@pytest.mark.django_db(transaction=True)
def test_a_healthy_kept_connection_is_checked_without_a_statement() -> None:
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    connection.ensure_connection()
    raw = connection.connection
    assert quiet(raw)
    _new_request()
    with mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as usable:
        assert rows.execute("SELECT 41 + 1", fetch=True)[0] == (42,)
    assert usable.call_count == 0
    assert connection.connection is raw


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_first_statement() -> None:
    connection.ensure_connection()
    raw = connection.connection
    pid = raw.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(autocommit=True, **params) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
    # The server says goodbye and closes the socket: wait for that, not for a time.
    poller = select.poll()
    poller.register(raw.pgconn.socket, select.POLLIN)
    assert poller.poll(30_000), "the terminated backend never closed its connection"
    assert not quiet(raw)
    _new_request()
    assert rows.execute("SELECT 41 + 1", fetch=True)[0] == (42,)
    assert connection.connection is not raw
    assert connection.connection.info.backend_pid != pid
