"""TOTP codes: verifying them once only, and enrolling a device with a QR code drawn on the server.

django-otp's ``TOTPDevice`` refuses a code whose time step is not after the last one accepted
(``last_t``). Verifying under a row lock makes that hold when two requests race with the same code.
"""

from __future__ import annotations

import base64

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline import qr
from hotline.accounts.models import User

CODE_LENGTH = 6


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled (made on first call, kept until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def clean_code(code: str) -> str | None:
    digits = code.replace(" ", "").strip()
    # ASCII digits only: "²".isdigit() is true too (django-otp's int() would then refuse it).
    return digits if len(digits) == CODE_LENGTH and digits.isascii() and digits.isdigit() else None


def verify_once(device: TOTPDevice, code: str) -> bool:
    """True if ``code`` is valid now and was never used before on this device."""
    digits = clean_code(code)
    if digits is None:
        return False
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return bool(locked.verify_token(digits))


def confirm(device: TOTPDevice) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32 groups, for people who type it into their authenticator."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The provisioning URI as inline SVG markup (:func:`hotline.qr.svg`)."""
    return qr.svg(str(device.config_url))
