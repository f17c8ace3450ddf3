from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from hotline.core.lifecycle import Role

STAFF_ROLES = [r for r in Role if r != Role.SYSTEM]


class User(AbstractUser):
    """A staff member. Applicants are never users: they are pseudonymous ``cases.Applicant`` rows."""

    role = models.CharField(max_length=16, choices=[(r.value, r.value) for r in STAFF_ROLES], default=Role.OPERATOR)
    must_change_password = models.BooleanField(default=False)

    @property
    def staff_role(self) -> Role:
        return Role(self.role)


class LoginThrottle(models.Model):
    """Failed sign-in attempts counted under a keyed hash of what they came from.

    ``key`` is a blind index of ``account:<username>``, ``source:<address>`` or both together: the
    table never holds a username an attacker tried or an IP address (see ``accounts/throttle.py``).
    """

    key = models.BinaryField(max_length=32, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(db_index=True)
    blocked_until = models.DateTimeField()
