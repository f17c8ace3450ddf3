"""`hotline backup`: a consistent, restorable copy of the database with no key material."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from hotline.cases import actions
from hotline.cases.backup import backup
from hotline.core.actor import Actor
from hotline.core.metadata import ChannelKind
from hotline.keyring import actions as keyring
from tests.conftest import ADMIN_PASSWORD


@pytest.mark.django_db(transaction=True)
def test_backup_is_a_consistent_restorable_copy(tmp_path: Path) -> None:
    keyring.do_setup("admin", ADMIN_PASSWORD)
    for i in range(5):
        actions.do_open_case(Actor.system(), channel=ChannelKind.WEB, address=f"session-{i}")
    out = StringIO()
    call_command("backup", output=tmp_path / "b.bin", stdout=out)
    path = Path(out.getvalue().strip())
    assert path == tmp_path / "b.bin"
    assert path.stat().st_mode & 0o777 == 0o600
    if connection.vendor == "sqlite":
        copy = sqlite3.connect(path)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM cases_case").fetchone() == (5,)
        assert copy.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (7,)
        copy.close()
    else:
        listing = subprocess.run(
            [shutil.which("pg_restore") or "pg_restore", "--list", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "TABLE DATA public cases_case" in listing.stdout


@pytest.mark.django_db
def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "exists"
    target.write_text("keep me")
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", output=target)
    assert target.read_text() == "keep me"


@pytest.mark.django_db(transaction=True)
def test_backup_to_the_default_directory(tmp_path: Path, settings: object) -> None:
    settings.HOTLINE_BACKUP_DIR = tmp_path / "backups"  # type: ignore[attr-defined]
    path = backup(Path(str(tmp_path / "backups" / "one.bin")))
    assert path.exists() and path.parent.stat().st_mode & 0o077 == 0
