"""Long polling, for deployments without a public URL: the worker asks Telegram for updates.

The offset moves past an update only after its effects are committed; a crash in between means the
update is fetched again and recognised as a duplicate by its ``update_id``.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramConflictError, TelegramNetworkError, TelegramServerError
from django.db import transaction

from .client import TelegramClient
from .ingest import process_update
from .models import PollingState

log = logging.getLogger("hotline.telegram")

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


def poll_once(client: TelegramClient, timeout: int = 1) -> int:
    """Fetch and store one batch of updates; return how many were fetched."""
    state, _ = PollingState.objects.get_or_create(id=1)
    try:
        updates = client.run(
            lambda bot: bot.get_updates(
                offset=state.last_update_id + 1,
                timeout=timeout,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=timeout + 10,
            )
        )
    except TelegramConflictError:
        log.error("telegram: a webhook is set, so polling is refused; run `hotline telegram delete-webhook`")
        return 0
    except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
        log.warning("telegram: polling failed (%s); will retry", type(exc).__name__)
        return 0
    for update in updates:
        process_update(update)
        with transaction.atomic():
            PollingState.objects.filter(id=1, last_update_id__lt=update.update_id).update(
                last_update_id=update.update_id
            )
    return len(updates)
