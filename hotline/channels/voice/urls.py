"""The phone line's webhook URLs, and the absolute addresses we hand the provider."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import path, reverse

from . import views

urlpatterns = [
    path("incoming", views.incoming, name="voice-incoming"),
    path("language", views.language, name="voice-language"),
    path("menu", views.menu_view, name="voice-menu"),
    path("choice", views.choice, name="voice-choice"),
    path("whisper", views.whisper, name="voice-whisper"),
    path("accept", views.accept, name="voice-accept"),
    path("dialed", views.dialed, name="voice-dialed"),
    path("voicemail", views.voicemail, name="voice-voicemail"),
    path("recorded", views.recorded, name="voice-recorded"),
    path("recording", views.recording, name="voice-recording"),
    path("status", views.status, name="voice-status"),
    path("bridge", views.bridge, name="voice-bridge"),
    path("bridged", views.bridged, name="voice-bridged"),
    path("bridge-status", views.bridge_status, name="voice-bridge-status"),
]


def base(request: HttpRequest | None = None) -> str:
    """Where the provider reaches us: ``VOICE_PUBLIC_URL``, else the address this request came to."""
    if settings.VOICE_PUBLIC_URL or request is None:
        return str(settings.VOICE_PUBLIC_URL)
    return f"{request.scheme}://{request.get_host()}"


def absolute(name: str, request: HttpRequest | None = None, **query: object) -> str:
    url = base(request) + reverse(name)
    values = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return f"{url}?{urlencode(values)}" if values else url
