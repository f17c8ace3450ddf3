"""Outbound on the phone line, through the provider's REST API (the ``twilio`` client).

* ``fetch``  — download a voicemail recording, seal it to the case in memory, queue its deletion;
* ``delete`` — delete the recording at the provider, then ask for it again: only a 404 proves it is
  gone; until then the item is retried (and the console shows the recording as still at the provider);
* ``call``   — place a callback: the provider rings the operator's line and, when they answer, asks
  ``/voice/bridge`` what to do (bridge the applicant, with the hotline's number as caller id).

Twilio, SignalWire and Somleng answer the same API under different hosts (``VOICE_API_BASE``).
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from hotline.channels.base import ChannelError, OutboundItem
from hotline.outbox.enqueue import enqueue
from hotline.outbox.models import Priority

from . import calls, urls

log = logging.getLogger("hotline.voice")
ALLOWED_MIME = {"audio/x-wav": "audio/wav", "audio/wav": "audio/wav", "audio/mpeg": "audio/mpeg"}


def client() -> Client:
    api = Client(settings.VOICE_ACCOUNT_SID, settings.VOICE_AUTH_TOKEN)
    api.api.base_url = settings.VOICE_API_BASE  # Twilio, SignalWire, Somleng: the same API, another host
    return api


class VoiceAdapter:
    kind = "phone"  # outbox rows of the phone line
    redact_keys = frozenset({"to", "recording_sid"})
    paced_kinds: frozenset[str] = frozenset()
    rate_per_second = 10.0
    chat_interval = 0.0

    def __init__(self) -> None:
        self.api = client()

    def deliver(self, item: OutboundItem) -> dict[str, Any]:
        try:
            if item.kind == "fetch":
                return self._fetch(item.payload)
            if item.kind == "delete":
                return self._delete(item.payload)
            if item.kind == "call":
                return self._call(item.payload)
        except TwilioRestException as exc:
            raise _error(exc.status, exc.code) from None
        except TwilioException as exc:
            raise ChannelError(f"provider: {type(exc).__name__}") from None
        except (TimeoutError, OSError) as exc:
            raise ChannelError(f"transient {type(exc).__name__}") from None
        raise ChannelError(f"unknown outbox kind {item.kind}", permanent=True)

    def _recording_path(self, sid: str) -> str:
        return f"{settings.VOICE_API_BASE}/2010-04-01/Accounts/{settings.VOICE_ACCOUNT_SID}/Recordings/{sid}"

    def _fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The recording's media, read into memory with a size limit (never written to disk)."""
        request = urllib.request.Request(self._recording_path(payload["recording_sid"]) + ".wav")  # noqa: S310
        credentials = f"{settings.VOICE_ACCOUNT_SID}:{settings.VOICE_AUTH_TOKEN}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
        limit = settings.VOICE_MAX_RECORDING_BYTES
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                mime = response.headers.get_content_type()
                content = response.read(limit + 1)
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, None) from None
        if len(content) > limit:
            raise ChannelError("recording is too big", permanent=True)
        return {"content": content, "mime": ALLOWED_MIME.get(mime, "application/octet-stream")}

    def _delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        recording = self.api.recordings(payload["recording_sid"])
        try:
            recording.delete()
        except TwilioRestException as exc:
            if exc.status != 404:  # already gone is what we want
                raise
        try:
            recording.fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                return {"deleted": True}
            raise
        raise ChannelError("the recording is still at the provider after its deletion")

    def _call(self, payload: dict[str, Any]) -> dict[str, Any]:
        callback = payload["callback"]
        placed = self.api.calls.create(
            to=payload["to"],
            from_=settings.VOICE_NUMBER,
            url=urls.absolute("voice-bridge", callback=callback),
            status_callback=urls.absolute("voice-bridge-status", callback=callback),
            timeout=settings.VOICE_RING_TIMEOUT_SECONDS,
        )
        return {"placed": bool(placed.sid)}

    def after_delivery(self, item: OutboundItem, result: dict[str, Any], message_id: object | None) -> None:
        if item.kind == "fetch":
            message = item.payload.get("message")
            if calls.seal_voicemail(message, result["content"], result["mime"]):
                enqueue(
                    "phone",
                    "delete",
                    {"recording_sid": item.payload["recording_sid"], "call": item.payload["call"]},
                    identity=None,
                    priority=Priority.HOUSEKEEPING,
                )
        elif item.kind == "delete":
            calls.recording_deleted(item.payload["call"])

    def on_given_up(self, item: OutboundItem) -> None:
        """The outbox stopped retrying this item."""
        if item.kind == "call":
            with transaction.atomic():
                calls.placed_callback_failed(item.payload["callback"], "not placed")
        elif item.kind in ("fetch", "delete"):
            # Never silently: an operator must know a recording may still be at the provider.
            done = "downloaded" if item.kind == "fetch" else "deleted"
            log.error("voice: a voicemail recording could not be %s; it may still be at the provider", done)

    def on_recipient_gone(self, identity_id: str) -> None:
        return None

    def close(self) -> None:
        return None


def _error(status: int, code: int | None) -> ChannelError:
    """The provider's answer as a delivery failure (never with anything the caller said or a number)."""
    if status == 429:
        return ChannelError("429 too many requests", retry_after=5.0)
    if status == 401:
        log.error("voice: the provider refused our credentials (401); check VOICE_ACCOUNT_SID and VOICE_AUTH_TOKEN")
        return ChannelError("401 unauthorized")
    if status == 404:
        return ChannelError("404 not found")  # a recording not ready yet: retried with backoff
    if 400 <= status < 500:
        return ChannelError(f"{status} refused (code {code})", permanent=True)
    return ChannelError(f"{status} provider error")
