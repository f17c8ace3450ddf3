"""The key hierarchy: who can read, recovery, crypto-shredding, rotation, and key files."""

from __future__ import annotations

import json
import os
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from hotline.accounts.models import User
from hotline.audit import log as audit_log
from hotline.cases import actions
from hotline.cases.content import do_read_case, open_case_key
from hotline.cases.models import Case, ChannelIdentity, Message
from hotline.core import crypto
from hotline.core.actor import Actor
from hotline.core.lifecycle import Status
from hotline.core.metadata import ChannelKind, Direction
from hotline.keyring import actions as keyring
from hotline.keyring import server_keys
from hotline.keyring.models import Installation
from tests.conftest import Org, actor_for

INTAKE = Actor.system("web")


def _case_with_message(body: str = "the secret") -> Case:
    case = actions.do_open_case(INTAKE, channel=ChannelKind.TELEGRAM, address="777", answers={"details": "d"})
    actions.do_add_message(INTAKE, case, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=body)
    return case


def test_content_is_readable_with_an_admin_password(org: Org) -> None:
    case = _case_with_message()
    key = keyring.unlock_with_password(org.admin, org.password)
    assert do_read_case(org.admin_actor, case, key).messages[0].body == "the secret"


def test_content_is_readable_with_the_recovery_key(org: Org) -> None:
    case = _case_with_message()
    key = keyring.unlock_with_recovery_key(org.recovery_key.lower().replace("-", " "))
    assert do_read_case(org.admin_actor, case, key).messages[0].body == "the secret"


def test_content_is_not_readable_without_them(org: Org, alice: User) -> None:
    case = _case_with_message()
    with pytest.raises(keyring.LockedError):
        keyring.unlock_with_password(org.admin, org.password + "!")
    with pytest.raises(keyring.LockedError):
        keyring.unlock_with_password(alice, "alice-pass-1234")  # holds no wrapped key
    with pytest.raises(keyring.LockedError):
        keyring.unlock_with_recovery_key("0" * 52 + "0")
    with pytest.raises(crypto.DecryptionError):
        do_read_case(org.admin_actor, case, crypto.generate_keypair().private)


def test_a_new_staff_member_gets_the_key_under_their_own_password(org: Org, alice: User) -> None:
    keyring.do_wrap_for_staff(org.admin_actor, alice, org.private_key, "alice-new-password-1")
    assert keyring.unlock_with_password(alice, "alice-new-password-1") == org.private_key
    with pytest.raises(keyring.KeyringError, match="not this organisation's key"):
        keyring.do_wrap_for_staff(org.admin_actor, alice, crypto.generate_keypair().private, "x" * 12)


def test_after_crypto_shredding_nothing_opens_even_with_password_and_recovery_key(org: Org) -> None:
    case = _case_with_message()
    sealed_key = bytes(case.sealed_private_key or b"")
    message_blob = bytes(Message.objects.get(case=case).body_sealed)
    actions.do_transition(org.admin_actor, case, Status.CLOSED)
    actions.do_shred_case(org.admin_actor, case)
    case.refresh_from_db()

    assert case.sealed_private_key is None
    assert not Message.objects.filter(case=case).exists()
    for org_key in (
        keyring.unlock_with_password(org.admin, org.password),
        keyring.unlock_with_recovery_key(org.recovery_key),
    ):
        with pytest.raises(actions.ActionError, match="erased"):
            do_read_case(org.admin_actor, case, org_key)
        with pytest.raises(actions.ActionError):
            open_case_key(case, org_key)
        # Even a copy of the message taken earlier (say, from an old backup) does not open with the org key.
        with pytest.raises(crypto.DecryptionError):
            crypto.unseal(org_key, message_blob, crypto.associated_data("cases_message", "body_sealed", case.id))
    # The sealed case key from an old backup still opens, which is why backups must expire too (docs/operations.md).
    assert crypto.unseal(org.private_key, sealed_key, actions.case_key_aad(case.id))


def test_an_open_case_cannot_be_shredded(org: Org) -> None:
    with pytest.raises(actions.ActionError, match="finished"):
        actions.do_shred_case(org.admin_actor, _case_with_message())


def test_setup_twice_leaves_the_keys_untouched(org: Org, tmp_path: Path) -> None:
    before = Installation.objects.get()
    files = {p.name: p.read_bytes() for p in Path(django_settings.HOTLINE_KEYS_DIR).iterdir()}
    pw = tmp_path / "pw"
    pw.write_text("another long password")
    with pytest.raises(CommandError, match="already set up"):
        call_command("setup", username="mallory", password_file=pw, json=True)
    after = Installation.objects.get()
    assert bytes(after.org_public_key or b"") == bytes(before.org_public_key or b"")
    assert bytes(after.org_recovery_wrap or b"") == bytes(before.org_recovery_wrap or b"")
    assert {p.name: p.read_bytes() for p in Path(django_settings.HOTLINE_KEYS_DIR).iterdir()} == files
    assert not User.objects.filter(username="mallory").exists()


def test_setup_command_prints_totp_and_recovery_key_as_json(db: None, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")
    out = StringIO()
    call_command("setup", username="root-admin", password_file=pw, json=True, stdout=out)
    result = json.loads(out.getvalue())
    assert result["totp_uri"].startswith("otpauth://totp/")
    user = User.objects.get(username="root-admin")
    assert keyring.unlock_with_recovery_key(result["recovery_key"]) == keyring.unlock_with_password(
        user, "a long enough password"
    )


def test_setup_refuses_a_weak_password(db: None, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("short")
    with pytest.raises(CommandError, match="too short"):
        call_command("setup", username="x", password_file=pw, json=True)
    assert not keyring.is_set_up()


def test_keys_recover_gives_an_admin_a_new_password(org: Org, tmp_path: Path) -> None:
    (tmp_path / "rk").write_text(org.recovery_key)
    (tmp_path / "pw").write_text("brand new password 99")
    call_command("keys", "recover", username="admin", recovery_key_file=tmp_path / "rk", password_file=tmp_path / "pw")
    admin = User.objects.get(username="admin")
    assert keyring.unlock_with_password(admin, "brand new password 99") == org.private_key
    with pytest.raises(keyring.LockedError):
        keyring.unlock_with_password(admin, org.password)
    (tmp_path / "rk").write_text("0000-" * 13 + "0")
    with pytest.raises(CommandError, match="recovery key"):
        call_command(
            "keys", "recover", username="admin", recovery_key_file=tmp_path / "rk", password_file=tmp_path / "pw"
        )


def test_rotating_the_transport_key_re_encrypts_every_address(org: Org, tmp_path: Path, settings: Any) -> None:
    # This test replaces key files: give it a copy of the keys of its own.
    shutil.copytree(settings.HOTLINE_KEYS_DIR, tmp_path / "keys")
    settings.HOTLINE_KEYS_DIR = tmp_path / "keys"
    server_keys.forget_cached()
    old_key = server_keys.get().transport
    for chat in ("101", "102", "103"):
        actions.do_open_case(INTAKE, channel=ChannelKind.TELEGRAM, address=chat)
    before = {i.pk: bytes(i.address_enc) for i in ChannelIdentity.objects.all()}

    out = StringIO()
    call_command("keys", "rotate-transport", stdout=out)
    assert "3 value(s) re-encrypted" in out.getvalue()

    new_key = server_keys.get().transport
    assert new_key != old_key
    assert not (tmp_path / "keys" / "transport.key.next").exists()
    assert oct((tmp_path / "keys" / "transport.key").stat().st_mode & 0o777) == "0o600"
    for identity in ChannelIdentity.objects.all():
        blob = bytes(identity.address_enc)
        assert blob != before[identity.pk]
        assert (
            actions.find_identity(
                ChannelKind.TELEGRAM,
                server_keys.get()
                .transport_decrypt(blob, crypto.associated_data("cases_channelidentity", "address_enc", identity.pk))
                .decode(),
            )
            == identity
        )
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(old_key, blob, crypto.associated_data("cases_channelidentity", "address_enc", identity.pk))
    keyring.check_server_keys()  # the installation row follows the new key
    assert audit_log.verify().ok


def test_a_server_started_with_other_key_files_refuses_to_run(org: Org, tmp_path: Path, settings: Any) -> None:
    settings.HOTLINE_KEYS_DIR = tmp_path / "elsewhere"
    server_keys.forget_cached()
    with pytest.raises(keyring.KeyringError, match="not the one this database was written with"):
        keyring.check_server_keys()


def test_key_files_are_private_and_loose_ones_are_refused(tmp_path: Path) -> None:
    keys = server_keys.load(tmp_path)
    for name in ("transport.key", "index.key", "audit.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert server_keys.load(tmp_path) == keys  # loading again reads, never regenerates
    os.chmod(tmp_path / "index.key", 0o644)
    with pytest.raises(server_keys.KeyFileError, match="chmod 600"):
        server_keys.load(tmp_path)


def test_the_org_private_key_is_never_stored_in_clear(org: Org) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("keyring_installation", "keyring_staffkeywrap", "cases_case"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        assert org.private_key not in bytes(value)
    assert actor_for(org.admin).role == "admin"
