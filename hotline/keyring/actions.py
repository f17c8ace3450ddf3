"""Actions on the organisation key and the server keys: set up, unlock, re-wrap, recover, rotate.

The organisation private key exists in clear only in the memory of a process that was just given a
password or the recovery key; every function here that returns it leaves keeping it safe to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hotline import rows
from hotline.accounts.actions import create_totp_device
from hotline.accounts.models import User
from hotline.audit import log as audit
from hotline.core import codes, crypto
from hotline.core.actor import Actor
from hotline.core.lifecycle import Role
from hotline.keyring import server_keys
from hotline.keyring.models import Installation, StaffKeyWrap

ORG_KEY_AAD = b"hotline:v1:org-private-key"


class KeyringError(Exception):
    """A key operation that cannot be done, with a message for the person running it."""


class LockedError(KeyringError):
    """The password or recovery key does not unlock the organisation key."""


def _wrap_aad(user_id: int) -> bytes:
    return ORG_KEY_AAD + f":staff:{user_id}".encode()


def _recovery_aad() -> bytes:
    return ORG_KEY_AAD + b":recovery"


def installation() -> Installation:
    inst = Installation.objects.filter(id=1).first()
    if inst is None or inst.org_public_key is None:
        raise KeyringError("the hotline is not set up yet: run `hotline setup`")
    return inst


def _org_public_key_column() -> bytes | None:
    """The installation's organisation public key as stored, or None (not set up, or no row yet).

    A plain statement instead of an ORM query: every portal form start and every new case asks.
    """
    row = rows.fetch(Installation, {"id": 1})
    return None if row is None or row.org_public_key is None else bytes(row.org_public_key)


def org_public_key() -> bytes:
    key = _org_public_key_column()
    if key is None:
        raise KeyringError("the hotline is not set up yet: run `hotline setup`")
    return key


def is_set_up() -> bool:
    return _org_public_key_column() is not None


def check_server_keys() -> None:
    """Refuse to run with key files other than the ones the data was written with."""
    current = server_keys.get().key_ids()
    with transaction.atomic():
        inst, created = Installation.objects.select_for_update().get_or_create(
            id=1, defaults={"server_key_ids": current}
        )
        if created or not inst.server_key_ids:
            inst.server_key_ids = current
            inst.save(update_fields=["server_key_ids"])
            return
    for name, kid in inst.server_key_ids.items():
        if current.get(name) != kid:
            raise KeyringError(
                f"the {name} key in {settings.HOTLINE_KEYS_DIR} is not the one this database was written with; "
                "restore the key files from your key backup (see docs/operations.md)"
            )


@dataclass(frozen=True)
class SetupResult:
    user: User
    recovery_key: str
    totp_uri: str


def do_setup(username: str, password: str) -> SetupResult:
    """Create the organisation key pair and the first admin, once.

    Returns the recovery key, which is shown to the person running setup and stored nowhere.
    """
    check_server_keys()
    org = crypto.generate_keypair()
    recovery = codes.new_recovery_key()
    with transaction.atomic():
        inst = Installation.objects.select_for_update().get(id=1)
        if inst.org_public_key is not None:
            raise KeyringError("the hotline is already set up; its keys were left untouched")
        if User.objects.filter(username=username).exists():
            raise KeyringError(f"a staff member called {username!r} already exists")
        user = User(username=username, role=Role.ADMIN, is_staff=True, is_superuser=True)
        user.set_password(password)
        user.save()
        inst.org_public_key = org.public
        inst.org_recovery_wrap = crypto.encrypt(
            crypto.recovery_wrapping_key(codes.to_bytes(recovery)), org.private, _recovery_aad()
        )
        inst.org_created_at = timezone.now()
        inst.save(update_fields=["org_public_key", "org_recovery_wrap", "org_created_at"])
        _store_wrap(user, org.private, password)
        totp_uri = create_totp_device(user)
        actor = Actor(user_id=user.pk, label=user.username, role=Role.ADMIN)
        audit.record(actor, "keys.setup", "installation", 1)
        audit.record(actor, "staff.create", "user", user.pk, {"role": Role.ADMIN.value})
        # The first anchor: from now on a log wiped or cut back to before setup is reported.
        transaction.on_commit(audit.anchor_head)
    return SetupResult(user=user, recovery_key=codes.group(recovery), totp_uri=totp_uri)


def _store_wrap(user: User, org_private: bytes, password: str) -> None:
    wrap = crypto.wrap_with_password(
        org_private,
        password,
        _wrap_aad(user.pk),
        opslimit=settings.HOTLINE_ARGON2_OPSLIMIT,
        memlimit=settings.HOTLINE_ARGON2_MEMLIMIT,
    )
    StaffKeyWrap.objects.update_or_create(
        user=user,
        defaults={
            "salt": wrap.salt,
            "opslimit": wrap.opslimit,
            "memlimit": wrap.memlimit,
            "ciphertext": wrap.ciphertext,
        },
    )


def unlock_with_password(user: User, password: str) -> bytes:
    """The organisation private key, unwrapped with this staff member's password."""
    wrap = StaffKeyWrap.objects.filter(user=user).first()
    if wrap is None:
        raise LockedError("this staff member holds no organisation key")
    pw = crypto.PasswordWrap(
        salt=bytes(wrap.salt), opslimit=wrap.opslimit, memlimit=wrap.memlimit, ciphertext=bytes(wrap.ciphertext)
    )
    try:
        return crypto.unwrap_with_password(pw, password, _wrap_aad(user.pk))
    except crypto.DecryptionError:
        raise LockedError("the password does not unlock the organisation key") from None


def unlock_with_recovery_key(recovery_key: str) -> bytes:
    try:
        normalised = codes.parse_recovery_key(recovery_key)
    except codes.CodeError as exc:
        raise LockedError(f"that is not a valid recovery key: {exc}") from None
    inst = installation()
    try:
        return crypto.decrypt(
            crypto.recovery_wrapping_key(codes.to_bytes(normalised)),
            bytes(inst.org_recovery_wrap or b""),
            _recovery_aad(),
        )
    except crypto.DecryptionError:
        raise LockedError("the recovery key does not unlock the organisation key") from None


def do_wrap_for_staff(actor: Actor, user: User, org_private: bytes, password: str) -> None:
    """Give ``user`` the organisation key under ``password`` (new staff member, or a password change)."""
    if crypto.public_key_of(org_private) != org_public_key():
        raise KeyringError("that is not this organisation's key")
    with transaction.atomic():
        _store_wrap(user, org_private, password)
        audit.record(actor, "keys.wrap_for_staff", "user", user.pk)


def do_recover(username: str, recovery_key: str, new_password: str) -> User:
    """Re-wrap the organisation key for an admin from the recovery key, setting a new password."""
    org_private = unlock_with_recovery_key(recovery_key)
    user = User.objects.filter(username=username, role=Role.ADMIN, is_active=True).first()
    if user is None:
        raise KeyringError(f"there is no active admin called {username!r}")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        _store_wrap(user, org_private, new_password)
        audit.record(Actor(user.pk, user.username, Role.ADMIN), "keys.recover", "user", user.pk)
    return user


# --- transport key rotation --------------------------------------------------------------------------


def rotate_transport_key() -> int:
    """Re-encrypt every transport-encrypted field under a new key; returns how many values changed.

    Steps, each safe to interrupt (re-running finishes the job):
    1. write the new key to ``transport.key.next`` (kept if it is already there);
    2. in one transaction, re-encrypt every value that is not already under the new key, and record
       the new key id on the installation row;
    3. atomically replace ``transport.key`` with the new key; the old key is gone.
    Run it with the web server and workers stopped: a running process keeps the old key in memory.
    """
    from hotline.keyring.transport_fields import registered_fields

    keys_dir = Path(settings.HOTLINE_KEYS_DIR)
    next_path = keys_dir / server_keys.TRANSPORT_NEXT
    if not next_path.exists():
        server_keys.write_new(next_path, server_keys.encode_key(crypto.random_key()))
    server_keys.forget_cached()
    keys = server_keys.get()
    assert keys.transport_next is not None
    new_key = keys.transport_next
    new_id = crypto.key_id(new_key)
    changed = 0
    with transaction.atomic():
        for field in registered_fields():
            manager = field.model._default_manager
            for pk, key_value, blob in manager.values_list("pk", field.key, field.name).iterator(chunk_size=1000):
                if blob is None or crypto.blob_key_id(bytes(blob)) == new_id:
                    continue
                aad = field.aad(key_value)
                plain = keys.transport_decrypt(bytes(blob), aad)
                manager.filter(pk=pk).update(**{field.name: crypto.encrypt(new_key, plain, aad)})
                changed += 1
        inst, _ = Installation.objects.select_for_update().get_or_create(id=1)
        inst.server_key_ids = {**(inst.server_key_ids or {}), "transport": new_id.hex()}
        inst.save(update_fields=["server_key_ids"])
        audit.record(Actor.system("keys"), "keys.rotate_transport", "installation", 1, {"values": changed})
    server_keys.write_new(keys_dir / server_keys.TRANSPORT, next_path.read_bytes())
    next_path.unlink()
    server_keys.forget_cached()
    return changed
