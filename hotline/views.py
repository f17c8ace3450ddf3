"""Liveness and health checks (the home page is the portal's)."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def ping(request: HttpRequest) -> HttpResponse:
    """Liveness without touching the database (also the bare-HTTP baseline of the benchmarks)."""
    return HttpResponse("ok", content_type="text/plain")


def down_under_serve() -> list[str]:
    """What ``hotline serve`` reports down among its children (``web-2``, ``writer``, ``worker``):
    empty when this process was not started by ``hotline serve``. A status file that cannot be read
    means serve itself is gone."""
    path = settings.HOTLINE_SERVE_STATUS
    if path is None:
        return []
    try:
        down = json.loads(path.read_bytes())["down"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["serve"]
    return [str(name) for name in down] if isinstance(down, list) else ["serve"]


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers and every process ``hotline serve`` runs is up; 503 otherwise,
    naming what is down (for load balancers and monitoring)."""
    down = down_under_serve()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "database unavailable", **({"down": down} if down else {})}, status=503)
    if down:
        return JsonResponse({"status": "down", "down": down}, status=503)
    return JsonResponse({"status": "ok"})
