"""The server's own keys: files under the keys directory, never in the database.

* ``transport.key`` — encrypts what the server must read to operate (channel addresses, later flow
  sessions and outbox payloads). During rotation ``transport.key.next`` exists as well.
* ``index.key`` — the blind-index key for equality lookups of secrets.
* ``audit.key`` — keys the audit log's hash chain, so a database thief cannot rewrite it.
* ``secret_key`` — Django's SECRET_KEY when none is configured.

Files are created on first use with mode 0600 by writing a temporary file and hard-linking it into
place, so concurrent processes starting together agree on one key and never read a half-written file.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from hotline.core import crypto

TRANSPORT = "transport.key"
TRANSPORT_NEXT = "transport.key.next"
INDEX = "index.key"
AUDIT = "audit.key"
SECRET_KEY = "secret_key"  # noqa: S105 (a file name)


class KeyFileError(Exception):
    pass


def read_or_create(path: Path, make: bytes) -> bytes:
    """The contents of ``path``; if it does not exist, atomically create it with ``make``."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, make)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process won the race; use its key
    finally:
        tmp.unlink()
    return _read(path)


def write_new(path: Path, data: bytes) -> None:
    """Write ``path`` with mode 0600, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    return path.read_bytes()


def encode_key(key: bytes) -> bytes:
    return base64.b64encode(key) + b"\n"


def decode_key(path: Path, raw: bytes) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        raise KeyFileError(f"{path} is not a key file") from None
    if len(key) != crypto.KEY_BYTES:
        raise KeyFileError(f"{path} does not hold a 32-byte key")
    return key


def load_key(path: Path) -> bytes:
    return decode_key(path, read_or_create(path, encode_key(crypto.random_key())))


def django_secret_key(keys_dir: Path) -> str:
    return read_or_create(keys_dir / SECRET_KEY, secrets.token_urlsafe(50).encode()).decode().strip()


@dataclass(frozen=True)
class ServerKeys:
    transport: bytes
    transport_next: bytes | None
    index: bytes
    audit: bytes

    def key_ids(self) -> dict[str, str]:
        return {
            "transport": crypto.key_id(self.transport).hex(),
            "index": crypto.key_id(self.index).hex(),
            "audit": crypto.key_id(self.audit).hex(),
        }

    def transport_encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        return crypto.encrypt(self.transport, plaintext, aad)

    def transport_decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Open with whichever transport key made ``blob`` (current, or the next one mid-rotation)."""
        kid = crypto.blob_key_id(blob)
        for key in (self.transport, self.transport_next):
            if key is not None and crypto.key_id(key) == kid:
                return crypto.decrypt(key, blob, aad)
        raise crypto.DecryptionError("made with a transport key this server does not have")

    def blind_index(self, domain: str, value: str) -> bytes:
        return crypto.blind_index(self.index, domain, value)


def load(keys_dir: Path) -> ServerKeys:
    next_path = keys_dir / TRANSPORT_NEXT
    return ServerKeys(
        transport=load_key(keys_dir / TRANSPORT),
        transport_next=decode_key(next_path, _read(next_path)) if next_path.exists() else None,
        index=load_key(keys_dir / INDEX),
        audit=load_key(keys_dir / AUDIT),
    )


@functools.cache
def _cached(keys_dir: str) -> ServerKeys:
    return load(Path(keys_dir))


def get() -> ServerKeys:
    """The running server's keys (loaded once per process)."""
    from django.conf import settings

    return _cached(str(settings.HOTLINE_KEYS_DIR))


def forget_cached() -> None:
    """Drop keys held by this process (after rotation, and between tests)."""
    _cached.cache_clear()
