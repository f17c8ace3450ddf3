"""The unlocked organisation key, kept so that neither the session store nor the browser has it alone.

At sign-in the organisation private key is unwrapped with the password, then encrypted under a fresh
random *session key*. The server session keeps only that ciphertext; the session key lives only in
an HttpOnly, SameSite=Strict cookie. A stolen session table (or a database dump) therefore opens
nothing, and a stolen cookie is useless without the session row.

Every view that needs the key calls :func:`org_key_for`; nothing else reads these values.
"""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from hotline.core import crypto

UNLOCK_COOKIE = "hotline_unlock"
_SESSION_FIELD = "hotline_org_key"


class SessionLocked(Exception):
    """This session holds no usable organisation key (cookie missing, altered, or another session's)."""


def _aad(user_id: int) -> bytes:
    return f"hotline:v1:session-org-key:{user_id}".encode()


def stash_org_key(request: HttpRequest, response: HttpResponse, user_id: int, org_private: bytes) -> None:
    """Keep ``org_private`` for this browser session: ciphertext in the session, key in a cookie."""
    session_key = crypto.random_key()
    blob = crypto.encrypt(session_key, org_private, _aad(user_id))
    request.session[_SESSION_FIELD] = base64.b64encode(blob).decode()
    response.set_cookie(
        UNLOCK_COOKIE,
        base64.urlsafe_b64encode(session_key).decode(),
        max_age=None,  # a browser-session cookie: gone when the browser closes
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
        path="/",
    )


def org_key_for(request: HttpRequest) -> bytes:
    """The organisation private key for the signed-in user of ``request``, or :class:`SessionLocked`."""
    user = getattr(request, "user", None)
    user_id = getattr(user, "pk", None)
    blob_text = request.session.get(_SESSION_FIELD)
    cookie = request.COOKIES.get(UNLOCK_COOKIE)
    if user_id is None or not isinstance(blob_text, str) or not cookie:
        raise SessionLocked("this session is not unlocked")
    return open_stash(blob_text, cookie, user_id)


def open_stash(blob_text: str, cookie: str, user_id: int) -> bytes:
    """Open a stashed key from its two halves (also used for a sign-in still enrolling its code)."""
    try:
        session_key = base64.urlsafe_b64decode(cookie.encode())
        blob = base64.b64decode(blob_text.encode())
        return crypto.decrypt(session_key, blob, _aad(user_id))
    except (binascii.Error, ValueError, crypto.DecryptionError):
        raise SessionLocked("the unlock cookie does not open this session's key") from None


def is_unlocked(request: HttpRequest) -> bool:
    try:
        org_key_for(request)
    except SessionLocked:
        return False
    return True


def stashed_blob(request: HttpRequest) -> str | None:
    value = request.session.get(_SESSION_FIELD)
    return value if isinstance(value, str) else None


def forget(response: HttpResponse) -> None:
    """Drop the browser's half (the session half goes with the session)."""
    response.delete_cookie(UNLOCK_COOKIE, path="/", samesite="Strict")
