"""Outbound Telegram: deliver outbox items through aiogram and map Telegram's answers to ChannelError."""

from __future__ import annotations

import io
import logging
import uuid
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup
from django.conf import settings
from django.utils import timezone

from hotline.cases import triage
from hotline.cases.models import Message as CaseMessage
from hotline.channels.base import ChannelError, OutboundItem
from hotline.core.actor import Actor

from .client import TelegramClient
from .models import ChatTrace, TelegramChat

log = logging.getLogger("hotline.telegram")
ACTOR = Actor.system("telegram")


class TelegramAdapter:
    kind = "telegram"
    redact_keys = frozenset({"chat_id", "text", "file_id", "callback_query_id", "message_ids", "meta"})
    paced_kinds = frozenset({"send"})

    def __init__(self, client: TelegramClient | None = None) -> None:
        self.client = client or TelegramClient()
        self.rate_per_second = float(settings.TELEGRAM_GLOBAL_RATE)
        self.chat_interval = 1.0 / float(settings.TELEGRAM_CHAT_RATE)

    def close(self) -> None:
        self.client.close()

    def deliver(self, item: OutboundItem) -> dict[str, Any]:
        handler = {
            "send": self._send,
            "delete": self._delete,
            "callback": self._callback,
            "fetch": self._fetch,
        }.get(item.kind)
        if handler is None:
            raise ChannelError(f"unknown outbox kind {item.kind}", permanent=True)
        try:
            return self.client.run(lambda bot: handler(bot, item.payload))
        except TelegramRetryAfter as exc:
            raise ChannelError("429 retry after", retry_after=float(exc.retry_after)) from None
        except TelegramForbiddenError:
            raise ChannelError("403 forbidden", recipient_gone=True) from None
        except TelegramBadRequest as exc:
            raise ChannelError(f"400 {_reason(exc)}", permanent=True) from None
        except TelegramUnauthorizedError:
            log.error("telegram: the bot token was refused (401); check TELEGRAM_BOT_TOKEN")
            raise ChannelError("401 unauthorized") from None
        except (TimeoutError, TelegramServerError, TelegramNetworkError, OSError) as exc:
            raise ChannelError(f"transient {type(exc).__name__}") from None

    async def _send(self, bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
        markup = payload.get("reply_markup")
        sent = await bot.send_message(
            chat_id=payload["chat_id"],
            text=payload["text"],
            reply_markup=InlineKeyboardMarkup.model_validate(markup) if markup else None,
        )
        return {"message_id": sent.message_id}

    async def _delete(self, bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            await bot.delete_messages(chat_id=payload["chat_id"], message_ids=payload["message_ids"])
        except TelegramBadRequest as exc:
            # Already gone (the person deleted them) is success; too old cannot be helped.
            if "not found" not in str(exc) and "can't be deleted" not in str(exc):
                raise
        return {"deleted": payload["message_ids"]}

    async def _callback(self, bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
        await bot.answer_callback_query(callback_query_id=payload["callback_query_id"], text=payload.get("text"))
        return {}

    async def _fetch(self, bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
        file = await bot.get_file(payload["file_id"])
        if file.file_size is not None and file.file_size > settings.TELEGRAM_MAX_FILE_BYTES:
            raise TelegramBadRequest(method=None, message="file is too big")  # type: ignore[arg-type]
        buffer = io.BytesIO()
        if file.file_path is None:
            raise TelegramBadRequest(method=None, message="file has no path")  # type: ignore[arg-type]
        await bot.download_file(file.file_path, destination=buffer)
        return {"content": buffer.getvalue()}

    def after_delivery(self, item: OutboundItem, result: dict[str, Any], message_id: object | None) -> None:
        if item.kind == "send" and item.identity_id:
            ChatTrace.objects.create(
                identity_id=uuid.UUID(item.identity_id), message_id=result["message_id"], at=timezone.now()
            )
        elif item.kind == "delete" and item.identity_id:
            ChatTrace.objects.filter(identity_id=uuid.UUID(item.identity_id), message_id__in=result["deleted"]).delete()
        elif item.kind == "fetch" and message_id is not None:
            self._seal_attachment(item, result["content"], message_id)

    def _seal_attachment(self, item: OutboundItem, content: bytes, message_id: object) -> None:
        """Seal the file into the case in memory; it never touches the disk in clear."""
        message = CaseMessage.objects.select_related("case").filter(id=str(message_id)).first()
        if message is None or message.case.is_shredded:
            return
        meta = item.payload.get("meta") or {}
        triage.do_add_attachment(
            ACTOR,
            message,
            kind=item.payload["kind"],
            content=content,
            filename=meta.get("file_name", ""),
            mime=meta.get("mime_type", ""),
        )

    def on_recipient_gone(self, identity_id: str) -> None:
        TelegramChat.objects.filter(identity_id=uuid.UUID(identity_id)).update(blocked_bot=True)


def _reason(exc: TelegramBadRequest) -> str:
    """Telegram's error description without anything that could echo user content."""
    text = str(exc.message if hasattr(exc, "message") else exc)
    return text.split(":")[0][:60] if ":" in text else text[:60]
