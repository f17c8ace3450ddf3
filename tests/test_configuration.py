"""Environment helpers: clear errors for bad values; secrets from NAME_FILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.envconf import ConfigurationError, env_bool, env_int, env_list, env_secret


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
    names = set(re.findall(r"env_(?:str|int|bool|list|secret)\(\s*\"([A-Z0-9_]+)\"", source))
    docs = (Path(hotline.settings.__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert names, "the pattern found no variables"
    assert sorted(n for n in names if f"`{n}`" not in docs) == []
