"""Ending a staff member's sessions everywhere at once.

Sessions live in the database session store, where rows are keyed by session id and the user id is
inside the (signed) data. A hotline has tens of staff sessions, not millions, so reading the live
rows to find one person's is cheap and needs no second table to keep in step.
"""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone

from hotline.accounts.models import User


def session_keys_of(user: User) -> list[str]:
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        data = session.get_decoded()
        if str(data.get(SESSION_KEY)) == str(user.pk) or str(data.get("enrol_user")) == str(user.pk):
            keys.append(session.session_key)
    return keys


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """Delete every session of ``user`` (except ``keep``); the next request from them is signed out."""
    keys = [k for k in session_keys_of(user) if k != keep]
    Session.objects.filter(session_key__in=keys).delete()
    return len(keys)
