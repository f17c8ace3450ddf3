"""Outbound Telegram: deliver outbox items through aiogram and map Telegram's answers to ChannelError.

Kinds: ``send``, ``delete``, ``callback``, ``fetch`` (the conversation with an applicant); ``publish``,
``edit_post``, ``unpublish`` (a post in a public channel, payload ``{"post_message": id}``: the post is
read as it stands at delivery); ``bcast`` (a broadcast message to one subscriber, payload
``{"chat_id", "post", "language", "broadcast"}``). Channel posts are public, so they go out without
``protect_content``; everything sent to a person, broadcasts included, keeps it.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
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
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.types import Message as TelegramMessage
from django.conf import settings
from django.utils import timezone

from hotline.cases import triage
from hotline.cases.models import Message as CaseMessage
from hotline.channels.base import ChannelError, OutboundItem
from hotline.core.actor import Actor
from hotline.news import broadcasts
from hotline.news.models import BroadcastTrace, Post, PostMessage, PostText
from hotline.outbox.models import OutboxMessage

from .client import TelegramClient
from .models import ChatTrace, TelegramChat

log = logging.getLogger("hotline.telegram")
ACTOR = Actor.system("telegram")
POST_KINDS = frozenset({"publish", "edit_post", "unpublish"})
Call = Callable[[Bot], Awaitable[dict[str, Any]]]


class TelegramAdapter:
    kind = "telegram"
    redact_keys = frozenset({"chat_id", "text", "file_id", "callback_query_id", "message_ids", "meta"})
    paced_kinds = frozenset({"send", "bcast"})

    def __init__(self, client: TelegramClient | None = None) -> None:
        self.client = client or TelegramClient()
        # 4 % under the limit: sends are evenly spaced with a burst of 1.25 (so a late sender loses no
        # slot), Telegram counts any rolling second, and a message can reach it a little sooner than
        # the one before: the margin keeps every second within the limit.
        self.rate_per_second = float(settings.TELEGRAM_GLOBAL_RATE) * 0.96
        self.chat_interval = 1.0 / float(settings.TELEGRAM_CHAT_RATE)
        # A post's image is uploaded once per worker; later messages reuse Telegram's file_id.
        self.file_ids: dict[str, str] = {}
        self._post_cache: dict[tuple[str, str], tuple[float, tuple[str, bytes | None, str] | None]] = {}

    def close(self) -> None:
        self.client.close()

    def prepare(self, item: OutboundItem) -> OutboundItem:
        """Posts and broadcasts read the post from the database: here, on the worker's claiming thread
        (``deliver`` runs on a sender thread and must not touch the database)."""
        if item.kind in POST_KINDS:
            item.extra["call"] = self._post_call(item)
        elif item.kind == "bcast":
            item.extra["call"] = self._broadcast_call(item)
        return item

    def deliver(self, item: OutboundItem) -> dict[str, Any]:
        handler = {
            "send": self._send,
            "delete": self._delete,
            "callback": self._callback,
            "fetch": self._fetch,
        }.get(item.kind)
        call: Call
        if item.kind in POST_KINDS or item.kind == "bcast":
            prepared = item.extra.get("call")
            call = prepared if prepared is not None else self.prepare(item).extra["call"]
        elif handler is not None:
            bound = handler

            def call(bot: Bot) -> Awaitable[dict[str, Any]]:
                return bound(bot, item.payload)
        else:
            raise ChannelError(f"unknown outbox kind {item.kind}", permanent=True)
        try:
            result = self.client.run(call)
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
        if item.kind == "bcast" and result.get("file_id"):
            self.file_ids[str(item.payload["post"])] = result["file_id"]
        return result

    # --- posts in public channels -----------------------------------------------------------------------

    def _post_call(self, item: OutboundItem) -> Call:
        message = PostMessage.objects.select_related("post").filter(pk=item.payload["post_message"]).first()
        if message is None:
            return _done({"skipped": True})
        post = message.post
        text = PostText.objects.filter(post=post, language=message.language).values_list("text", flat=True).first()
        chat = channel_chat_id(message.channel)
        if item.kind == "publish":
            if message.state != PostMessage.State.PENDING:
                return _done({"skipped": True})
            if post.state == Post.State.DELETED or text is None:
                return _done({"skipped": True, "gone": True})
            return self._publish_call(chat, post, text)
        if item.kind == "edit_post":
            if message.state in (PostMessage.State.DELETED, PostMessage.State.FAILED) or text is None:
                return _done({"skipped": True})
            if message.message_id is None:
                raise ChannelError("the post is not in the channel yet")  # the publish is still on its way
            if message.version == post.version:
                return _done({"skipped": True})
            return _edit_call(chat, message.message_id, text, post.version, caption=bool(post.image))
        # unpublish
        if message.message_id is None:
            if message.state == PostMessage.State.PENDING:
                raise ChannelError("the post is not in the channel yet")
            return _done({"deleted": True})
        return _unpublish_call(chat, message.message_id)

    def _publish_call(self, chat: int | str, post: Post, text: str) -> Call:
        image, mime, version = bytes(post.image) if post.image else None, post.image_mime, post.version

        async def call(bot: Bot) -> dict[str, Any]:
            sent: TelegramMessage
            if image is not None:
                photo = BufferedInputFile(image, filename="post.png" if mime == "image/png" else "post.jpg")
                sent = await bot.send_photo(
                    chat_id=chat, photo=photo, caption=text, parse_mode="HTML", protect_content=False
                )
            else:
                sent = await bot.send_message(chat_id=chat, text=text, parse_mode="HTML", protect_content=False)
            return {"message_id": sent.message_id, "version": version}

        return call

    # --- broadcasts to subscribers ------------------------------------------------------------------------

    def _broadcast_post(self, post_id: str, language: str) -> tuple[str, bytes | None, str] | None:
        """The post's text and image, read at most once a second per post and language (a broadcast
        claims dozens of rows a second, all of the same post)."""
        key = (post_id, language)
        now = time.monotonic()
        cached = self._post_cache.get(key)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        post = Post.objects.filter(pk=post_id).only("state", "image", "image_mime").first()
        body = PostText.objects.filter(post_id=post_id, language=language).values_list("text", flat=True).first()
        found = None
        if post is not None and post.state == Post.State.PUBLISHED and body is not None:
            found = (body, bytes(post.image) if post.image else None, post.image_mime)
        self._post_cache[key] = (now, found)
        return found

    def _broadcast_call(self, item: OutboundItem) -> Call:
        payload = item.payload
        found = self._broadcast_post(str(payload["post"]), str(payload["language"]))
        if found is None:
            raise ChannelError("the post is no longer published", permanent=True)
        body, stored_image, mime = found
        chat_id = payload["chat_id"]
        cached = self.file_ids.get(str(payload["post"]))
        image = stored_image if stored_image is not None and cached is None else None
        with_photo = stored_image is not None

        async def call(bot: Bot) -> dict[str, Any]:
            if not with_photo:
                sent = await bot.send_message(chat_id=chat_id, text=body, parse_mode="HTML")
                return {"message_id": sent.message_id}
            photo: str | BufferedInputFile
            photo = cached if cached is not None else BufferedInputFile(image or b"", filename=_filename(mime))
            sent = await bot.send_photo(chat_id=chat_id, photo=photo, caption=body, parse_mode="HTML")
            file_id = sent.photo[-1].file_id if sent.photo else None
            return {"message_id": sent.message_id, "file_id": file_id}

        return call

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
            BroadcastTrace.objects.filter(
                identity_id=uuid.UUID(item.identity_id), message_id__in=result["deleted"]
            ).delete()
        elif item.kind == "fetch" and message_id is not None:
            self._seal_attachment(item, result["content"], message_id)
        elif item.kind == "bcast":
            broadcasts.record_sent(str(item.payload["broadcast"]), item.identity_id, result.get("message_id"))
        elif item.kind in POST_KINDS:
            self._record_post(item, result)

    def _record_post(self, item: OutboundItem, result: dict[str, Any]) -> None:
        messages = PostMessage.objects.filter(pk=item.payload["post_message"])
        if item.kind == "publish" and result.get("gone"):
            messages.filter(state=PostMessage.State.PENDING).update(state=PostMessage.State.DELETED)
        elif item.kind == "publish" and "message_id" in result:
            messages.update(message_id=result["message_id"], version=result["version"], state=PostMessage.State.SENT)
        elif item.kind == "edit_post" and "version" in result:
            messages.update(version=result["version"])
        elif item.kind == "unpublish":
            messages.update(state=PostMessage.State.DELETED)

    def on_given_up(self, item: OutboundItem) -> None:
        """The outbox gave up on ``item`` (a permanent failure, or too many attempts)."""
        if item.kind == "bcast":
            broadcasts.record_failed(str(item.payload["broadcast"]))
        elif item.kind == "publish":
            PostMessage.objects.filter(pk=item.payload["post_message"]).update(state=PostMessage.State.FAILED)
        elif item.kind in POST_KINDS:
            log.warning("telegram: a channel post could not be %s", "edited" if item.kind == "edit_post" else "deleted")

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
        """The person blocked the bot. A subscriber is unsubscribed for every broadcast that was on its
        way to them (the outbox drops those rows next, in this transaction)."""
        TelegramChat.objects.filter(identity_id=uuid.UUID(identity_id)).update(blocked_bot=True)
        pending = OutboxMessage.objects.filter(identity_id=uuid.UUID(identity_id), broadcast__isnull=False)
        for broadcast_id in pending.values_list("broadcast_id", flat=True).distinct():
            broadcasts.record_blocked(str(broadcast_id), identity_id)


def channel_chat_id(channel: str) -> int | str:
    """A channel as ``TELEGRAM_CHANNELS`` names it: ``@username``, or a numeric chat id."""
    return int(channel) if channel.lstrip("-").isdigit() else channel


def _filename(mime: str) -> str:
    return "post.png" if mime == "image/png" else "post.jpg"


def _done(result: dict[str, Any]) -> Call:
    """Nothing to ask Telegram: the item is done as it stands."""

    async def call(bot: Bot) -> dict[str, Any]:
        return result

    return call


def _edit_call(chat: int | str, message_id: int, text: str, version: int, *, caption: bool) -> Call:
    async def call(bot: Bot) -> dict[str, Any]:
        try:
            if caption:
                await bot.edit_message_caption(chat_id=chat, message_id=message_id, caption=text, parse_mode="HTML")
            else:
                await bot.edit_message_text(chat_id=chat, message_id=message_id, text=text, parse_mode="HTML")
        except TelegramBadRequest as exc:
            if "not modified" not in str(exc):
                raise
        return {"version": version}

    return call


def _unpublish_call(chat: int | str, message_id: int) -> Call:
    async def call(bot: Bot) -> dict[str, Any]:
        try:
            await bot.delete_message(chat_id=chat, message_id=message_id)
        except TelegramBadRequest as exc:
            # Already gone (deleted by hand in the channel) is success.
            if "not found" not in str(exc) and "can't be deleted" not in str(exc):
                raise
        return {"deleted": True}

    return call


def _reason(exc: TelegramBadRequest) -> str:
    """Telegram's error description without anything that could echo user content."""
    text = str(exc.message if hasattr(exc, "message") else exc)
    return text.split(":")[0][:60] if ":" in text else text[:60]
