"""Actions on staff accounts."""

from __future__ import annotations

from django_otp.plugins.otp_totp.models import TOTPDevice

from hotline.accounts.models import User


def create_totp_device(user: User) -> str:
    """Give ``user`` a fresh TOTP secret (replacing any) and return its provisioning URI."""
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return str(device.config_url)
