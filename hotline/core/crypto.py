"""The hotline's cryptography, on libsodium (PyNaCl) primitives only.

Key hierarchy (see docs/architecture.md):

* every case has its own X25519 key pair; content is sealed to the case public key, so code that
  takes an application can write it without being able to read it;
* the case private key is sealed to the organisation public key;
* the organisation private key is wrapped for each staff member under Argon2id(password) and once
  under a recovery key kept offline;
* channel addresses and other operational secrets are encrypted under a *transport key* and looked up
  through a keyed BLAKE2b *blind index*; both keys live in files, never in the database.

Every ciphertext is bound to where it is stored (table, field, row id) through the associated data of
an AEAD, so a ciphertext copied into another row or field fails to open.

This module is pure: no Django, no files, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

KEY_BYTES = 32
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
SEALED_KEY_BYTES = sodium.crypto_box_SEALBYTES + KEY_BYTES  # ephemeral public key + mac + data key

# Format tags: the first byte of every blob says how it was made, so formats can evolve.
_SYMMETRIC_V1 = b"\x01"
_SEALED_V1 = b"\x02"

# Argon2id parameters for staff key wrapping. 64 MiB is the floor required by the threat model;
# the parameters are stored beside each wrapped key so they can be raised without breaking old wraps.
ARGON2_MIN_MEMLIMIT = 64 * 1024 * 1024
ARGON2_DEFAULT_MEMLIMIT = 64 * 1024 * 1024
ARGON2_DEFAULT_OPSLIMIT = 3
ARGON2_SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES


class DecryptionError(Exception):
    """A ciphertext did not open: wrong key, wrong row/field, or tampered bytes."""


def random_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


def key_id(key: bytes) -> bytes:
    """A short public identifier of a symmetric key (4 bytes), safe to store beside ciphertexts."""
    return hashlib.blake2b(key, digest_size=4, person=b"hotline-keyid").digest()


def associated_data(table: str, field: str, row_id: object) -> bytes:
    """What a ciphertext is bound to: it opens only with the same table, field and row id."""
    return f"hotline:v1:{table}:{field}:{row_id}".encode()


# --- symmetric authenticated encryption (XChaCha20-Poly1305) ------------------------------------


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt under a 32-byte key. Layout: tag(1) | key id(4) | nonce(24) | ciphertext+mac."""
    _check_key(key)
    nonce = nacl.utils.random(NONCE_BYTES)
    header = _SYMMETRIC_V1 + key_id(key)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header + aad, nonce, key)
    return header + nonce + ct


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    _check_key(key)
    if len(blob) < 5 + NONCE_BYTES + 16 or blob[:1] != _SYMMETRIC_V1:
        raise DecryptionError("not a symmetric ciphertext")
    header, nonce, ct = blob[:5], blob[5 : 5 + NONCE_BYTES], blob[5 + NONCE_BYTES :]
    try:
        return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, header + aad, nonce, key))
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionError("ciphertext does not open with this key and binding") from exc


def blob_key_id(blob: bytes) -> bytes:
    """The key id a symmetric ciphertext was made with (to pick the key during rotation)."""
    if blob[:1] != _SYMMETRIC_V1 or len(blob) < 5:
        raise DecryptionError("not a symmetric ciphertext")
    return blob[1:5]


# --- public-key sealing (X25519 sealed box + XChaCha20-Poly1305 with associated data) ------------


@dataclass(frozen=True)
class KeyPair:
    public: bytes
    private: bytes


def generate_keypair() -> KeyPair:
    sk = PrivateKey.generate()
    return KeyPair(public=bytes(sk.public_key), private=bytes(sk))


def public_key_of(private: bytes) -> bytes:
    return bytes(PrivateKey(private).public_key)


def seal(public_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt so that only the holder of the private key can read, bound to ``aad``.

    A libsodium sealed box has no associated data, so a fresh data key is sealed to the recipient
    and the plaintext is encrypted under that data key with the AEAD. Layout:
    tag(1) | sealed data key(80) | nonce(24) | ciphertext+mac.
    """
    data_key = random_key()
    sealed_key = SealedBox(PublicKey(public_key)).encrypt(data_key)
    nonce = nacl.utils.random(NONCE_BYTES)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, _SEALED_V1 + bytes(sealed_key) + aad, nonce, data_key
    )
    return _SEALED_V1 + bytes(sealed_key) + nonce + ct


def unseal(private_key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + SEALED_KEY_BYTES + NONCE_BYTES + 16 or blob[:1] != _SEALED_V1:
        raise DecryptionError("not a sealed ciphertext")
    sealed_key = blob[1 : 1 + SEALED_KEY_BYTES]
    nonce = blob[1 + SEALED_KEY_BYTES : 1 + SEALED_KEY_BYTES + NONCE_BYTES]
    ct = blob[1 + SEALED_KEY_BYTES + NONCE_BYTES :]
    try:
        data_key = SealedBox(PrivateKey(private_key)).decrypt(sealed_key)
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, _SEALED_V1 + sealed_key + aad, nonce, data_key)
        )
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionError("sealed ciphertext does not open with this key and binding") from exc


# --- wrapping the organisation key ----------------------------------------------------------------


@dataclass(frozen=True)
class PasswordWrap:
    """The organisation private key wrapped under a key derived from one staff member's password."""

    salt: bytes
    opslimit: int
    memlimit: int
    ciphertext: bytes


def derive_password_key(password: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    if memlimit < ARGON2_MIN_MEMLIMIT:
        raise ValueError("Argon2id memory limit below the 64 MiB floor")
    return bytes(nacl.pwhash.argon2id.kdf(KEY_BYTES, password.encode(), salt, opslimit=opslimit, memlimit=memlimit))


def wrap_with_password(
    secret: bytes,
    password: str,
    aad: bytes,
    *,
    opslimit: int = ARGON2_DEFAULT_OPSLIMIT,
    memlimit: int = ARGON2_DEFAULT_MEMLIMIT,
) -> PasswordWrap:
    salt = nacl.utils.random(ARGON2_SALT_BYTES)
    kek = derive_password_key(password, salt, opslimit, memlimit)
    return PasswordWrap(salt=salt, opslimit=opslimit, memlimit=memlimit, ciphertext=encrypt(kek, secret, aad))


def unwrap_with_password(wrap: PasswordWrap, password: str, aad: bytes) -> bytes:
    kek = derive_password_key(password, wrap.salt, wrap.opslimit, wrap.memlimit)
    return decrypt(kek, wrap.ciphertext, aad)


def recovery_wrapping_key(recovery_key: bytes) -> bytes:
    """The recovery key is already 256 random bits; a keyed hash separates its use."""
    return hashlib.blake2b(recovery_key, digest_size=KEY_BYTES, person=b"hotline-recover").digest()


# --- blind index ----------------------------------------------------------------------------------


def blind_index(index_key: bytes, domain: str, value: str) -> bytes:
    """A keyed BLAKE2b digest for equality lookups of a secret value (e.g. a Telegram chat id).

    ``domain`` separates uses (``channel:telegram``, ``receipt``) so equal values in different
    domains never collide. Callers normalise ``value`` first.
    """
    _check_key(index_key)
    h = hashlib.blake2b(key=index_key, digest_size=32, person=b"hotline-bindex")
    h.update(domain.encode() + b"\x00" + value.encode())
    return h.digest()


def keyed_chain_hash(key: bytes, previous: bytes, payload: bytes) -> bytes:
    """One link of the audit chain: BLAKE2b(key, previous || payload)."""
    return hashlib.blake2b(previous + payload, key=key, digest_size=32, person=b"hotline-audit").digest()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("keys are 32 bytes")
