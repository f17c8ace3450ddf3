"""The aiogram Bot, driven from synchronous code (Django views, the worker, commands).

The bot's HTTP session lives on a private event loop in a background thread; :meth:`TelegramClient.run`
hands it a coroutine and waits for the result. Callers never need a loop of their own, and one that
already runs one (a test driving a browser, say) is not disturbed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
    """Owns a Bot and the loop thread its HTTP session lives on. Calls are serialised."""

    def __init__(self, token: str | None = None, timeout: float = 30.0) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="telegram-client", daemon=True)
        self._thread.start()
        session = AiohttpSession(api=api_server(), timeout=timeout)
        # protect_content on every message: the applicant's phone cannot forward or save what the bot says.
        self.bot = Bot(
            token or settings.TELEGRAM_BOT_TOKEN,
            session=session,
            default=DefaultBotProperties(protect_content=True, link_preview_is_disabled=True),
        )

    def run(self, call: Callable[[Bot], Awaitable[T]]) -> T:
        async def invoke() -> T:
            return await call(self.bot)

        return asyncio.run_coroutine_threadsafe(invoke(), self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.bot.session.close(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    def __del__(self) -> None:  # a forgotten client must not leave its thread spinning
        loop: Any = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed() and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
