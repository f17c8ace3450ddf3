"""The aiogram Bot, driven from synchronous code (Django views, the worker) on one private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from django.conf import settings

T = TypeVar("T")


def api_server() -> TelegramAPIServer:
    base = settings.TELEGRAM_API_BASE
    return PRODUCTION if not base else TelegramAPIServer.from_base(base.rstrip("/"))


class TelegramClient:
    """Owns a Bot and the event loop its HTTP session lives on. Not thread-safe: one per thread."""

    def __init__(self, token: str | None = None, timeout: float = 30.0) -> None:
        self.loop = asyncio.new_event_loop()
        session = AiohttpSession(api=api_server(), timeout=timeout)
        # protect_content on every message: the applicant's phone cannot forward or save what the bot says.
        self.bot = Bot(
            token or settings.TELEGRAM_BOT_TOKEN,
            session=session,
            default=DefaultBotProperties(protect_content=True, link_preview_is_disabled=True),
        )

    def run(self, call: Callable[[Bot], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(call(self.bot))

    def close(self) -> None:
        self.loop.run_until_complete(self.bot.session.close())
        self.loop.close()
