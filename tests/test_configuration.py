"""Environment helpers: clear errors for bad values; secrets from NAME_FILE; private directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.envconf import (
    ConfigurationError,
    env_bool,
    env_bot_username,
    env_float,
    env_int,
    env_list,
    env_secret,
    private_directory,
)


def test_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    assert env_bool("X_BOOL", False) is True
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ConfigurationError, match="X_BOOL must be true or false"):
        env_bool("X_BOOL", False)


def test_integers_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ConfigurationError, match="at least 1"):
        env_int("X_INT", 1, minimum=1)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ConfigurationError, match="whole number"):
        env_int("X_INT", 1)


def test_numbers_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLOAT", "0.25")
    assert env_float("X_FLOAT", 1.0, minimum=0) == 0.25
    monkeypatch.setenv("X_FLOAT", "-1")
    with pytest.raises(ConfigurationError, match="X_FLOAT must be at least 0"):
        env_float("X_FLOAT", 1.0, minimum=0)
    for bad in ("soon", "nan", "inf"):
        monkeypatch.setenv("X_FLOAT", bad)
        with pytest.raises(ConfigurationError, match="X_FLOAT must be a number"):
            env_float("X_FLOAT", 1.0)


def test_a_bot_username(monkeypatch: pytest.MonkeyPatch) -> None:
    for given, kept in (("", ""), ("@hotline_bot", "hotline_bot"), (" HotlineHelpBot ", "HotlineHelpBot")):
        monkeypatch.setenv("X_BOT", given)
        assert env_bot_username("X_BOT") == kept
    for bad in ("hotline", "@bot", "@1hotline_bot", "@hotline bot", "https://t.me/hotline_bot", "@" + "a" * 30 + "bot"):
        monkeypatch.setenv("X_BOT", bad)
        with pytest.raises(ConfigurationError, match=r"X_BOT: .* is not a bot's username"):
            env_bot_username("X_BOT")


def test_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_LIST", " a.example, b.onion ,")
    assert env_list("X_LIST", []) == ["a.example", "b.onion"]


def test_secret_from_file_wins_and_a_missing_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "s").write_text("from-file\n")
    monkeypatch.setenv("X_SECRET", "from-env")
    assert env_secret("X_SECRET") == "from-env"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "s"))
    assert env_secret("X_SECRET") == "from-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        env_secret("X_SECRET")


def test_every_variable_read_in_settings_is_documented() -> None:
    import re

    import hotline.settings

    source = Path(hotline.settings.__file__).read_text()
    readers = r"(?:env_[a-z_]+|private_directory)"
    names = set(re.findall(readers + r"\(\s*\"([A-Z0-9_]+)\"", source))
    docs = (Path(hotline.settings.__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert names, "the pattern found no variables"
    assert sorted(n for n in names if f"`{n}`" not in docs) == []


def test_a_missing_directory_is_made_private(tmp_path: Path) -> None:
    path = private_directory("X_DIR", tmp_path / "a" / "var")
    assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700


def test_a_directory_others_may_enter_is_made_private_and_the_hotline_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    data.mkdir()
    data.chmod(0o755)
    assert private_directory("X_DIR", data) == data
    assert data.stat().st_mode & 0o777 == 0o700
    said = capsys.readouterr().err
    assert "X_DIR" in said and "was mode 755; it is now 700" in said
    private_directory("X_DIR", data)  # already private: nothing to say
    assert capsys.readouterr().err == ""


def test_a_directory_that_cannot_be_made_private_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "var"
    data.mkdir()
    data.chmod(0o777)

    def refused(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refused)
    with pytest.raises(ConfigurationError, match=r"X_DIR=.* may be entered by other users \(mode 777\).*chmod 700"):
        private_directory("X_DIR", data)


def test_the_hotline_tightens_its_data_and_key_directories_at_start(tmp_path: Path) -> None:
    data = tmp_path / "var"
    (data / "keys").mkdir(parents=True)
    data.chmod(0o755)
    (data / "keys").chmod(0o750)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "DJANGO_"))}
    env["HOTLINE_DATA_DIR"] = str(data)
    done = subprocess.run([sys.executable, "-m", "hotline", "help"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert data.stat().st_mode & 0o777 == 0o700 and (data / "keys").stat().st_mode & 0o777 == 0o700
    assert "HOTLINE_DATA_DIR" in done.stderr and "HOTLINE_KEYS_DIR" in done.stderr


@pytest.mark.parametrize(("value", "expected"), [(None, 0), ("64", 64 * 1024 * 1024)])
def test_sqlite_reads_its_file_without_a_memory_map_unless_one_is_set(
    tmp_path: Path, value: str | None, expected: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "DATABASE_URL", "DJANGO_"))}
    env["HOTLINE_DATA_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "hotline.settings"
    if value is not None:
        env["HOTLINE_SQLITE_MMAP_MB"] = value
    code = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA mmap_size'); print(c.fetchone()[0])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == expected
