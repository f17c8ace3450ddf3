"""The Telegram webhook: POST /telegram/webhook.

* the secret token header is compared in constant time (the token never appears in the URL);
* the body is parsed strictly (``parse_update``): a body over :data:`MAX_BODY` → 413; malformed JSON,
  JSON nested too deeply, an integer outside the signed 64-bit range or a non-update → 400, each
  with its reason (``hotline/inputs.py``); update kinds we do not handle → 200;
* 200 only after the update and its effects are committed; 503 while the database is unavailable,
  so Telegram retries; a redelivered update is acknowledged without being processed twice;
* an update over its chat's inbound allowance is dropped before any database work (``inbound.py``).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from hotline.inputs import InputError, check_integers, parse_json, read_body

from . import inbound
from .ingest import process_update

if TYPE_CHECKING:
    from aiogram.types import Update

log = logging.getLogger("hotline.telegram")

MAX_BODY = 1024 * 1024


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": reason}, status=status)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    if not secret:
        return _error(404, "the Telegram webhook is not configured")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return _error(403, "wrong or missing secret token")
    try:
        update = parse_update(request)
    except InputError as exc:
        return _error(exc.status, exc.reason)
    if inbound.drop(update):  # over its chat's allowance: dropped before any database work
        return HttpResponse(_OK["dropped"], content_type="application/json")
    try:
        outcome = process_update(update)
    except DatabaseError as exc:
        log.warning(
            "telegram: database unavailable (%s); update %d left for redelivery", type(exc).__name__, update.update_id
        )
        response = _error(503, "database unavailable, retry later")
        response["Retry-After"] = "5"
        return response
    return HttpResponse(_OK[outcome], content_type="application/json")


def parse_update(request: HttpRequest) -> Update:
    """The update in the request's body, or :class:`InputError` (413 or 400) saying what is wrong with it.

    Every integer in it fits a signed 64-bit integer, the database's widest: checked in the JSON
    and again in the validated update, where pydantic turns a string of digits into an integer.
    """
    from aiogram.types import Update  # with the first update, not at start-up (lazy_types.py: ~1 s, ~50 MB)

    data = parse_json(read_body(request, MAX_BODY))
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int) or isinstance(data["update_id"], bool):
        raise InputError(400, "not a Telegram update: update_id missing")
    try:
        update = Update.model_validate(data)
    except ValidationError as exc:
        raise InputError(400, f"not a valid Telegram update ({exc.error_count()} problem(s))") from None
    check_integers(update)
    return update


# The three answers to an update that was taken, encoded once.
_OK = {
    outcome: json.dumps({"ok": True, "result": outcome}).encode()
    for outcome in ("stored", "duplicate", "failed", "dropped")
}
