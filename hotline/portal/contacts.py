"""Official contacts, verifiable: a manifest of the real bot, phone numbers, onion address and mirror
domains, signed with Ed25519, so a copy found anywhere can be checked against the key fingerprint.

Files (paths from ``HOTLINE_CONTACTS_FILE``):

* ``contacts.json`` — the manifest, exactly the bytes that were signed;
* ``contacts.json.sig`` — ``{"algorithm": "ed25519", "public_key": …, "signature": …, "fingerprint": …}``;
* ``$HOTLINE_KEYS_DIR/contacts-signing.key`` — the signing key (mode 0600), made by the first
  ``hotline contacts sign``.

The fingerprint is SHA-256 of the public key, as 16 groups of 4 hex digits. People compare it across
channels (the website, the bot's /verify, anything the organisation publishes elsewhere): a clone can
copy the manifest, but cannot sign a changed one with the real key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from hotline.keyring import server_keys

FORMAT = "hotline-contacts/1"
KEY_FILE = "contacts-signing.key"
FIELDS = ("telegram", "phones", "onion", "mirrors")
MAX_ENTRIES = 20

_TELEGRAM = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{4,31})$")
_PHONE = re.compile(r"^\+[0-9][0-9 ()-]{5,23}$")
_ONION = re.compile(r"^[a-z2-7]{56}\.onion$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


class ContactsError(Exception):
    """A manifest or signature that cannot be trusted or used, with the reason."""


@dataclass(frozen=True)
class Manifest:
    telegram: tuple[str, ...]
    phones: tuple[str, ...]
    onion: tuple[str, ...]
    mirrors: tuple[str, ...]
    issued_at: str

    @property
    def issued_display(self) -> str:
        """``2026-01-31 14:05`` (UTC) for people; the manifest keeps the ISO form."""
        return self.issued_at.replace("T", " ")[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "issued_at": self.issued_at,
            "telegram": list(self.telegram),
            "phones": list(self.phones),
            "onion": list(self.onion),
            "mirrors": list(self.mirrors),
        }


@dataclass(frozen=True)
class Signed:
    manifest: Manifest
    manifest_text: str
    signature_text: str
    fingerprint: str


# --- checking what goes into a manifest ---------------------------------------------------------------


def _entries(data: Mapping[str, Any], name: str) -> list[str]:
    raw = data.get(name, [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ContactsError(f"{name}: a list of strings")
    if len(raw) > MAX_ENTRIES:
        raise ContactsError(f"{name}: at most {MAX_ENTRIES} entries")
    return [" ".join(item.split()) for item in raw if item.strip()]


def _telegram(value: str) -> str:
    match = _TELEGRAM.match(value)
    if match is None:
        raise ContactsError(f"telegram: {value[:40]!r} is not a Telegram username (5–32 letters, digits, _)")
    return "@" + match.group(1)


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if _PHONE.match(value) is None or not 7 <= len(digits) <= 15:
        raise ContactsError(f"phones: {value[:40]!r} is not an international number (+ and 7–15 digits)")
    return value


def _onion(value: str) -> str:
    value = value.lower()
    if _ONION.match(value) is None:
        raise ContactsError(f"onion: {value[:70]!r} is not a v3 onion address (56 characters + .onion, no http://)")
    return value


def _domain(value: str) -> str:
    value = value.lower().rstrip(".")
    if _DOMAIN.match(value) is None:
        raise ContactsError(f"mirrors: {value[:70]!r} is not a domain name (no https://, no path)")
    return value


def check(data: Any, issued_at: str) -> Manifest:
    """A manifest from user-given data (JSON object with telegram, phones, onion, mirrors)."""
    if not isinstance(data, dict):
        raise ContactsError("the contacts file holds a JSON object")
    unknown = set(data) - {*FIELDS, "format", "issued_at"}
    if unknown:
        raise ContactsError(f"unknown fields: {', '.join(sorted(unknown))}")
    checkers = {"telegram": _telegram, "phones": _phone, "onion": _onion, "mirrors": _domain}
    values: dict[str, tuple[str, ...]] = {}
    for name in FIELDS:
        entries = [checkers[name](item) for item in _entries(data, name)]
        if len(set(entries)) != len(entries):
            raise ContactsError(f"{name}: an entry is listed twice")
        values[name] = tuple(entries)
    if not any(values.values()):
        raise ContactsError("the manifest lists no contact at all")
    return Manifest(issued_at=issued_at, **values)


def manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.as_dict(), ensure_ascii=False, indent=2) + "\n").encode()


# --- keys ---------------------------------------------------------------------------------------------


def fingerprint(public_key: bytes) -> str:
    digest = hashlib.sha256(public_key).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def normalise_fingerprint(text: str) -> str:
    compact = re.sub(r"[\s:]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", compact):
        raise ContactsError("a fingerprint is 64 hex digits (spaces allowed)")
    return " ".join(compact[i : i + 4] for i in range(0, 64, 4))


def key_path() -> Path:
    return Path(settings.HOTLINE_KEYS_DIR) / KEY_FILE


def signing_key() -> nacl.signing.SigningKey:
    """The signing key, made on first use (mode 0600, never in the database)."""
    path = key_path()
    seed = server_keys.load_key(path)
    return nacl.signing.SigningKey(seed)


def local_public_key() -> bytes | None:
    """The hotline's own public key, if this machine holds the signing key."""
    path = key_path()
    try:
        if path.stat().st_mode & 0o077:
            raise ContactsError(f"{path} is readable by other users; run: chmod 600 {path}")
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return bytes(nacl.signing.SigningKey(server_keys.decode_key(path, raw)).verify_key)


# --- signing and verifying --------------------------------------------------------------------------


def signature_path(manifest_path: Path) -> Path:
    return manifest_path.with_name(manifest_path.name + ".sig")


def sign(data: Any, now: datetime | None = None) -> tuple[bytes, bytes]:
    """The manifest bytes and the signature file's bytes for ``data``."""
    issued = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = manifest_bytes(check(data, issued))
    key = signing_key()
    public = bytes(key.verify_key)
    signature = {
        "algorithm": "ed25519",
        "public_key": base64.b64encode(public).decode(),
        "signature": base64.b64encode(key.sign(body).signature).decode(),
        "fingerprint": fingerprint(public),
    }
    return body, (json.dumps(signature, indent=2) + "\n").encode()


def write(body: bytes, signature: bytes, path: Path | None = None) -> Path:
    path = Path(path or settings.HOTLINE_CONTACTS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    server_keys.write_new(path, body)
    server_keys.write_new(signature_path(path), signature)
    return path


def verify(body: bytes, signature: bytes, expected_fingerprint: str | None) -> Signed:
    """Check a manifest against its signature file and the expected key; ContactsError says why not.

    ``expected_fingerprint`` None accepts the key named in the signature file — only for showing a
    manifest this server signed itself; a copy from elsewhere must be checked against a fingerprint.
    """
    try:
        sig = json.loads(signature)
    except (ValueError, UnicodeDecodeError):
        raise ContactsError("the signature file is not JSON") from None
    if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
        raise ContactsError("the signature file does not hold an Ed25519 signature")
    try:
        public = base64.b64decode(str(sig.get("public_key", "")), validate=True)
        signature_bytes = base64.b64decode(str(sig.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ContactsError("the signature file's key or signature is not base64") from None
    if len(public) != 32 or len(signature_bytes) != 64:
        raise ContactsError("the signature file's key or signature has the wrong length")
    found = fingerprint(public)
    if expected_fingerprint is not None and found != normalise_fingerprint(expected_fingerprint):
        raise ContactsError(
            f"signed with another key (fingerprint {found}), not the hotline's ({expected_fingerprint})"
        )
    try:
        nacl.signing.VerifyKey(public).verify(body, signature_bytes)
    except nacl.exceptions.BadSignatureError:
        raise ContactsError("the signature does not match: the manifest was changed after it was signed") from None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ContactsError("the manifest is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ContactsError(f"the manifest is not in the {FORMAT} format")
    manifest = check(data, str(data.get("issued_at", "")))
    return Signed(manifest, body.decode(), signature.decode(), found)


# --- what the website and the bot show -------------------------------------------------------------


def published() -> Signed | None:
    """The manifest this hotline publishes, checked; None when none has been signed yet.

    Raises ContactsError when the files are there but fail the check (tampered, or signed by a key
    other than this machine's): the site then says so instead of showing unverified contacts.
    """
    path = Path(settings.HOTLINE_CONTACTS_FILE)
    sig_path = signature_path(path)
    try:
        stats = (path.stat(), sig_path.stat())
    except FileNotFoundError:
        if path.exists():
            raise ContactsError("the contacts manifest has no signature file") from None
        return None
    key_stat = key_path().stat().st_mtime_ns if key_path().exists() else 0
    return _published(str(path), stats[0].st_mtime_ns, stats[0].st_size, stats[1].st_mtime_ns, key_stat)


@functools.lru_cache(maxsize=4)
def _published(path: str, _mtime: int, _size: int, _sig_mtime: int, _key_mtime: int) -> Signed:
    local = local_public_key()
    return verify(
        Path(path).read_bytes(),
        signature_path(Path(path)).read_bytes(),
        fingerprint(local) if local is not None else None,
    )


def verify_reply(language: str) -> str:
    """The bot's answer to /verify: the official contacts and the key fingerprint, in ``language``."""
    with translation.override(language):
        try:
            signed = published()
        except ContactsError:
            return _("The list of official contacts on this server fails its signature check. Do not trust it.")
        if signed is None:
            return _("The official contacts have not been published yet.")
        m = signed.manifest
        lines = [_("The hotline's official contacts, signed with its Ed25519 key:"), ""]
        rows = [
            (_("Telegram"), m.telegram),
            (_("Phone"), m.phones),
            (_("Onion address (Tor Browser)"), m.onion),
            (_("Mirror sites"), m.mirrors),
        ]
        lines += [f"{label}: {', '.join(values)}" for label, values in rows if values]
        lines += [
            "",
            _("Key fingerprint: %(fingerprint)s") % {"fingerprint": signed.fingerprint},
            _("Compare it with the fingerprint on the website's official contacts page. If they differ, stop."),
        ]
        return "\n".join(lines)
