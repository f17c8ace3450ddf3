"""Small helpers that read configuration from environment variables (used by settings.py only).

A secret may be given as ``NAME`` or as ``NAME_FILE`` (a path whose contents are the secret, as with
Docker or systemd credentials). A ``NAME_FILE`` that cannot be read is an error, never a silent
fallback.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path


class ConfigurationError(Exception):
    pass


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigurationError(f"{name} must be a number, not {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, not {value:g}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_LANGUAGE = re.compile(r"[a-z]{2,3}")
_CHANNEL = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}|-100[0-9]{1,13}")


def env_channels(name: str) -> dict[str, str]:
    """Telegram channels per language: ``ru=@hotline_ru,uk=@hotline_uk`` or ``*=@hotline`` (``*``: every
    language not named). A channel is ``@username`` or a ``-100…`` chat id. Whether each language is
    one the hotline declares is checked at start-up (``hotline/languages.py``), where they are known."""
    raw = os.environ.get(name, "").strip()
    channels: dict[str, str] = {}
    if not raw:
        return channels
    for item in raw.split(","):
        language, sep, channel = (part.strip() for part in item.partition("="))
        if not sep or not language or not channel:
            raise ConfigurationError(f"{name}: each item is language=@channel, not {item.strip()!r}")
        if language != "*" and not _LANGUAGE.fullmatch(language):
            raise ConfigurationError(f"{name}: {language!r} is not a language code (two or three letters, or *)")
        if language in channels:
            raise ConfigurationError(f"{name}: {language!r} is given twice")
        if not _CHANNEL.fullmatch(channel):
            raise ConfigurationError(
                f"{name}: {channel!r} is not a channel (@username of 5-32 letters, digits and _, or a -100… id)"
            )
        channels[language] = channel
    return channels


_BOT_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt])")


def env_bot_username(name: str) -> str:
    """A Telegram bot's username without the ``@`` (5-32 letters, digits and _, ending in "bot", as
    Telegram requires of bots), or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    found = _BOT_USERNAME.fullmatch(raw)
    if found is None:
        raise ConfigurationError(
            f"{name}: {raw!r} is not a bot's username (5-32 letters, digits and _, ending in bot, e.g. @hotline_bot)"
        )
    return found.group(1)


def env_secret(name: str) -> str | None:
    """``NAME`` or the contents of the file named by ``NAME_FILE`` (trailing newline stripped)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().rstrip("\n")
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
    return os.environ.get(name) or None


def private_directory(name: str, path: Path) -> Path:
    """``path`` as a directory only its owner may enter (0700): created so if missing, tightened if
    group or others had any access. A directory this user cannot tighten (another user's) is an
    error that names the variable, never a silent start."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        raise ConfigurationError(f"{name}={str(path)!r} cannot be used as a directory: {exc.strerror}") from None
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except OSError as exc:
            raise ConfigurationError(
                f"{name}={str(path)!r} may be entered by other users (mode {mode:o}) and cannot be made "
                f"private ({exc.strerror}): run `chmod 700 {path}` as its owner"
            ) from None
        # Said before logging is configured (settings are still being read); it names no person.
        print(f"hotline: {name}={str(path)!r} was mode {mode:o}; it is now {mode & 0o700:o}", file=sys.stderr)
    return path


def env_minutes_by(name: str, keys: tuple[str, ...], default: dict[str, int]) -> dict[str, int]:
    """Minutes per key, e.g. ``urgent=15,high=60,normal=240``. Keys not named keep their default."""
    raw = os.environ.get(name, "").strip()
    result = dict(default)
    if not raw:
        return result
    seen: set[str] = set()
    for item in raw.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in keys:
            raise ConfigurationError(f"{name}: each item is one of {', '.join(keys)}=minutes, not {item.strip()!r}")
        if key in seen:
            raise ConfigurationError(f"{name}: {key!r} is given twice")
        seen.add(key)
        try:
            minutes = int(value)
        except ValueError:
            raise ConfigurationError(f"{name}: {key} must be a whole number of minutes, not {value!r}") from None
        if not 1 <= minutes <= 60 * 24 * 30:
            raise ConfigurationError(f"{name}: {key} must be between 1 and 43200 minutes, not {minutes}")
        result[key] = minutes
    return result
