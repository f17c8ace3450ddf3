"""A stolen database, dump or backup reveals nothing: plant known strings, then grep the raw bytes."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from hotline.accounts.models import User
from hotline.cases import actions
from hotline.cases.backup import backup
from hotline.cases.content import do_read_case
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.core.metadata import Category, ChannelKind, Direction, Region
from hotline.keyring import actions as keyring
from hotline.keyring import server_keys
from tests.conftest import ADMIN_PASSWORD, sqlite_file_bytes

PLANTED = {
    "answer": "PLANTED-ANSWER-unit-47109-near-Tokmak",
    "name": "Plantedname Ivanovich Secretov",
    "cyrillic_name": "Засекреченко Пётр Сергеевич",
    "phone": "+79161234509",
    "chat_id": "5550193847",
    "note": "PLANTED-NOTE-seems-to-be-a-real-deserter",
    "message": "PLANTED-MESSAGE-I-will-cross-at-dawn",
    "reply": "PLANTED-REPLY-go-to-the-white-building",
}


def _needles() -> dict[str, bytes]:
    out = {}
    for label, text in PLANTED.items():
        out[label] = text.encode()
        out[label + " (utf-16)"] = text.encode("utf-16-le")
    out["phone digits"] = PLANTED["phone"].lstrip("+").encode()
    return out


def _plant(admin: User) -> None:
    intake = Actor.system("telegram")
    tg = actions.do_open_case(
        intake,
        channel=ChannelKind.TELEGRAM,
        address=PLANTED["chat_id"],
        language="ru",
        category=Category.MOBILIZED,
        region=Region.RUSSIA,
        answers={
            "identity_details": PLANTED["answer"],
            "full_name": PLANTED["name"],
            "relative": PLANTED["cyrillic_name"],
        },
    )
    phone = actions.do_open_case(
        intake, channel=ChannelKind.PHONE, address=PLANTED["phone"], answers={"callback": PLANTED["phone"]}
    )
    staff = Actor(admin.pk, admin.username, Role.ADMIN)
    actions.do_add_message(
        intake, tg, direction=Direction.INBOUND, channel=ChannelKind.TELEGRAM, body=PLANTED["message"]
    )
    actions.do_add_message(
        staff, tg, direction=Direction.OUTBOUND, channel=ChannelKind.TELEGRAM, body=PLANTED["reply"], author=admin
    )
    actions.do_add_note(staff, phone, PLANTED["note"], author=admin)
    # Reading content must not leave it anywhere either.
    org_key = keyring.unlock_with_password(admin, ADMIN_PASSWORD)
    assert do_read_case(staff, tg, org_key).answers["identity_details"] == PLANTED["answer"]


def _raw_database_bytes(tmp_path: Path) -> bytes:
    if connection.vendor == "sqlite":
        connection.close()  # make sure everything is on disk
        base = Path(connection.settings_dict["NAME"])
        return sqlite_file_bytes(base)
    return backup(tmp_path / "raw.pgdump").read_bytes()


def _assert_nothing_planted(blob: bytes, where: str) -> None:
    assert len(blob) > 10_000, f"{where} looks empty"
    found = [label for label, needle in _needles().items() if needle in blob]
    assert found == [], f"planted strings found in {where}: {found}"


@pytest.mark.django_db(transaction=True)
def test_planted_strings_are_nowhere_in_the_database_or_backup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = keyring.do_setup("admin", ADMIN_PASSWORD).user
    _plant(admin)

    _assert_nothing_planted(_raw_database_bytes(tmp_path), "the raw database")
    backup_blob = backup(tmp_path / "backup.bin").read_bytes()
    _assert_nothing_planted(backup_blob, "the backup")
    assert all(PLANTED[k] not in caplog.text for k in PLANTED), "planted strings reached the logs"

    # The key files are not in the backup, in any encoding.
    keys = server_keys.get()
    for key in (keys.transport, keys.index, keys.audit):
        assert key not in backup_blob
        assert base64.b64encode(key) not in backup_blob
    assert settings.SECRET_KEY.encode() not in backup_blob


@pytest.mark.django_db(transaction=True)
def test_the_needles_would_be_found_if_stored_in_clear(tmp_path: Path) -> None:
    """Guards the test above: the same grep finds a string stored without encryption."""
    User.objects.create_user(username=PLANTED["name"], password="x" * 16)
    blob = _raw_database_bytes(tmp_path)
    assert PLANTED["name"].encode() in blob


@pytest.mark.django_db(transaction=True)
def test_numbers_and_recordings_from_the_phone_line_are_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    """A call, a voicemail, an operator's line and a callback: the numbers and the recording are in no
    database byte, backup or log line."""
    from hotline.channels.voice import calls
    from hotline.channels.voice.models import Callback
    from hotline.testing.voice_emulator import Answer, Speech
    from tests.conftest import set_up_org
    from tests.voice_support import voice_rig

    caplog.set_level(logging.DEBUG)
    caller, operator_line = "+79161234588", "+380671234599"
    recording = b"RIFF\x00\x00\x00\x00WAVE" + b"PLANTED-RECORDING-I-am-at-the-checkpoint" * 50
    org = set_up_org()
    rig_gen = voice_rig(org, settings)
    rig = next(rig_gen)
    try:
        calls.do_set_line(org.admin, operator_line)
        rig.provider.place_call(caller, presses=["1", "4"], speech=Speech(seconds=12, audio=recording, end="#"))
        rig.provider.place_call(caller, presses=["1", "5"])
        rig.deliver()
        rig.provider.phones[operator_line] = Answer()
        rig.provider.phones[caller] = Answer()
        calls.do_start_callback(org.admin, Callback.objects.get())
        rig.deliver()
        rig.provider.run_pending()
        assert Callback.objects.get().state == Callback.State.DONE
        assert all(r.deleted for r in rig.provider.recordings.values())
    finally:
        rig_gen.close()

    needles = {
        "caller": caller.encode(),
        "caller digits": caller.lstrip("+").encode(),
        "operator line": operator_line.lstrip("+").encode(),
        "recording": b"PLANTED-RECORDING-I-am-at-the-checkpoint",
    }
    for where, blob in (
        ("the raw database", _raw_database_bytes(tmp_path)),
        ("the backup", backup(tmp_path / "backup.bin").read_bytes()),
        ("the logs", caplog.text.encode()),
    ):
        found = [label for label, needle in needles.items() if needle in blob]
        assert found == [], f"planted strings found in {where}: {found}"
