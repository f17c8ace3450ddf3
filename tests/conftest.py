"""Shared fixtures: an installation with named staff.

* ``org`` — the hotline set up by its first admin ("admin"), with the password and recovery key;
* ``alice`` — an operator; ``bob`` — another operator; ``carol`` — a coordinator.

Every test session gets its own key directory, so tests never touch a developer's keys, and on
PostgreSQL a test database of its own, so two runs against one server never meet.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from hotline.accounts.models import User
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.keyring import actions as keyring
from hotline.keyring import server_keys

ADMIN_PASSWORD = "correct horse battery staple"


def unique_test_database_name(name: str) -> str:
    """``test_<name>_<pid>_<random>``: this run's own (PostgreSQL names hold at most 63 bytes)."""
    return f"test_{name}"[:40] + f"_{os.getpid()}_{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """pytest-django's hook for the database settings, just before the test databases are created.
    On PostgreSQL the test database gets a name of this run's own instead of Django's fixed
    ``test_<name>``, which two runs against one server would both create, clobber and drop under
    each other. pytest-django drops it at the end of the run as it would the fixed one."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] in ("django.db.backends.postgresql", "hotline.pgbackend"):
        db.setdefault("TEST", {})["NAME"] = unique_test_database_name(str(db["NAME"]))


@pytest.fixture(scope="session", autouse=True)
def _private_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    keys_dir = tmp_path_factory.mktemp("keys")
    previous = settings.HOTLINE_KEYS_DIR
    settings.HOTLINE_KEYS_DIR = keys_dir
    server_keys.forget_cached()
    yield keys_dir
    settings.HOTLINE_KEYS_DIR = previous
    server_keys.forget_cached()


@pytest.fixture(scope="session", autouse=True)
def _writer_connection_closed(django_db_setup: None) -> Iterator[None]:
    """The group-commit writer thread keeps a connection to the test database; close it before the
    database is dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    from hotline.dbwrite import close_writer_connection

    close_writer_connection()


@pytest.fixture(autouse=True)
def _private_anchor_file(tmp_path: Path) -> Iterator[Path]:
    """Each test's database starts empty, so each gets its own audit anchor file too."""
    previous = settings.HOTLINE_AUDIT_ANCHOR_FILE
    settings.HOTLINE_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors"
    yield settings.HOTLINE_AUDIT_ANCHOR_FILE
    settings.HOTLINE_AUDIT_ANCHOR_FILE = previous


@pytest.fixture(autouse=True)
def _fresh_inbound_allowance() -> Iterator[None]:
    """The web process's per-chat allowances live in memory: each test starts with full ones."""
    from hotline.channels.telegram import inbound

    inbound.reset()
    yield
    inbound.reset()


@pytest.fixture(autouse=True)
def _pinned_totp_clock() -> Iterator[float]:
    """django-otp accepts the code of the current 30-second step (and one step either side) and
    never the same step twice. A test that signs in again with the same code, expecting a refusal,
    or with the next one, expecting a welcome, must not see the step turn between its two tries,
    which it would one run in a few. So the clock django-otp reads stands in the middle of the
    current step, and ``Staff.code()`` (tests/console_support.py) reads the same clock."""
    from types import SimpleNamespace
    from unittest import mock

    import django_otp.plugins.otp_totp.models as totp_models

    from tests import console_support

    now = time.time()
    pinned = now - now % 30 + 15
    with mock.patch.object(totp_models, "time", SimpleNamespace(time=lambda: pinned)):
        console_support.totp_clock = lambda: pinned
        try:
            yield pinned
        finally:
            console_support.totp_clock = time.time


@pytest.fixture
def portal_clock_stands_still() -> Iterator[None]:
    """The portal's flood limits refill their buckets as time passes, so a test of a limit that
    sends its requests one after another meets the limit only if the machine is quick enough. With
    this fixture the limits' clock stands still: a bucket holds exactly what the test leaves in it."""
    from types import SimpleNamespace
    from unittest import mock

    from hotline.portal import limits

    frozen = time.monotonic()
    with mock.patch.object(limits, "time", SimpleNamespace(monotonic=lambda: frozen)):
        limits.reset()
        try:
            yield
        finally:
            limits.reset()


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    server_keys.forget_cached()
    yield
    server_keys.forget_cached()


@dataclass
class Org:
    admin: User
    password: str
    recovery_key: str
    private_key: bytes

    @property
    def admin_actor(self) -> Actor:
        return actor_for(self.admin)


@contextlib.contextmanager
def database_down() -> Iterator[None]:
    """Every statement fails as if the database were unreachable: those through Django's cursor and
    the hot path's plain statements, which go to the SQLite driver directly (``hotline/rows.py``)."""
    from unittest import mock

    from django.db import DatabaseError

    down = DatabaseError("the database is down")
    with (
        mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=down),
        mock.patch("hotline.rows._execute", side_effect=down),
    ):
        yield


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement this thread's connection runs, the ORM's and the plain ones alike (on SQLite
    those go to the driver directly, past Django's query log)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seen: list[str] = []
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        raw.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            raw.set_trace_callback(None)
        return
    with CaptureQueriesContext(connection) as captured:
        yield seen
    seen.extend(query["sql"] for query in captured.captured_queries)


def sqlite_file_bytes(base: Path) -> bytes:
    """A SQLite database's file, WAL and shared-memory index as bytes, read by a child process.

    Reading them in this process would open and close descriptors of those files here, and closing
    any descriptor of a file drops every POSIX lock this process holds on it: those of the SQLite
    connections still open (the writer thread's, other threads'). They would then no longer
    coordinate with other processes, and a process started later (the crash test's writer, worker
    and web server) could rebuild the WAL index under them: a malformed database."""
    paths = [str(p) for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]
    return subprocess.run(["cat", *paths], check=True, capture_output=True).stdout


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.pk, label=user.username, role=Role(user.role))


def set_up_org() -> Org:
    result = keyring.do_setup("admin", ADMIN_PASSWORD)
    return Org(
        admin=result.user,
        password=ADMIN_PASSWORD,
        recovery_key=result.recovery_key,
        private_key=keyring.unlock_with_password(result.user, ADMIN_PASSWORD),
    )


@pytest.fixture
def org(db: None) -> Org:
    return set_up_org()


def make_staff(username: str, role: Role) -> User:
    return User.objects.create_user(username=username, password=f"{username}-pass-1234", role=role)


@pytest.fixture
def alice(db: None) -> User:
    return make_staff("alice", Role.OPERATOR)


@pytest.fixture
def bob(db: None) -> User:
    return make_staff("bob", Role.OPERATOR)


@pytest.fixture
def carol(db: None) -> User:
    return make_staff("carol", Role.COORDINATOR)


# --- Telegram ----------------------------------------------------------------------------------------


@pytest.fixture
def voice(org: Org, settings: Any) -> Iterator[Any]:
    """The phone line: the provider emulator in front of the webhooks, and a worker with the voice adapter."""
    from tests.voice_support import voice_rig

    yield from voice_rig(org, settings)


@pytest.fixture
def voice_demo(org_tx: Org, live_server: Any, settings: Any) -> Iterator[Any]:
    """The demo's phone line (``hotline serve --demo``): the keypad's endpoint on the Telegram
    emulator, the voice provider emulator, and a live server (tests/voice_support.py)."""
    from tests.voice_support import voice_demo_rig

    yield from voice_demo_rig(live_server.url, settings)


@pytest.fixture
def org_tx(transactional_db: None) -> Org:
    """``org`` for tests whose data must be committed (live server, raw file greps)."""
    return set_up_org()


@pytest.fixture
def telegram(org_tx: Org, live_server: Any, settings: Any) -> Iterator[Any]:
    from hotline.channels.telegram.adapter import TelegramAdapter
    from hotline.testing.telegram_emulator import RateLimits, TelegramEmulator
    from hotline.worker.loop import Worker
    from tests.telegram_harness import SECRET, TOKEN, TelegramRig, set_webhook

    emulator = TelegramEmulator(token=TOKEN, rate_limits=RateLimits(per_chat_rate=0, global_rate=0)).start()
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE = emulator.base_url
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_CHAT_RATE = 1000
    settings.TELEGRAM_GLOBAL_RATE = 1000
    url = f"{live_server.url}/telegram/webhook"
    set_webhook(emulator, url)
    rig = TelegramRig(
        emulator=emulator, worker=Worker(adapters={"telegram": TelegramAdapter()}, polling=False), webhook_url=url
    )
    try:
        yield rig
    finally:
        rig.worker.close()
        emulator.stop()
