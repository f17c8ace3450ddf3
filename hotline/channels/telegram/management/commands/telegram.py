"""``hotline telegram set-webhook URL`` / ``delete-webhook`` / ``info``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from aiogram.exceptions import TelegramAPIError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hotline.channels.telegram.client import TelegramClient
from hotline.channels.telegram.polling import ALLOWED_UPDATES


class Command(BaseCommand):
    help = "Manage the Telegram bot's webhook."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        setw = sub.add_parser("set-webhook", help="tell Telegram to deliver updates to URL (ends in /telegram/webhook)")
        setw.add_argument("url")
        setw.add_argument("--drop-pending", action="store_true")
        setw.add_argument("--max-connections", type=int, default=40)
        sub.add_parser("delete-webhook", help="stop webhook delivery (for long polling)")
        sub.add_parser("info", help="show the bot and the webhook state")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set")
        client = TelegramClient()
        try:
            if options["action"] == "set-webhook":
                self._set(client, options)
            elif options["action"] == "delete-webhook":
                client.run(lambda bot: bot.delete_webhook())
                self.stdout.write(self.style.SUCCESS("Webhook deleted; the worker can poll."))
            else:
                me = client.run(lambda bot: bot.get_me())
                info = client.run(lambda bot: bot.get_webhook_info())
                self.stdout.write(
                    json.dumps(
                        {"bot": me.username, "webhook_url": info.url, "pending_updates": info.pending_update_count}
                    )
                )
        except TelegramAPIError as exc:
            raise CommandError(f"Telegram refused: {exc}") from None
        finally:
            client.close()

    def _set(self, client: TelegramClient, options: dict[str, Any]) -> None:
        url: str = options["url"]
        if not url.startswith("https://") and not settings.TELEGRAM_API_BASE:
            raise CommandError("Telegram delivers webhooks only to https:// URLs")
        if not settings.TELEGRAM_WEBHOOK_SECRET:
            raise CommandError("set TELEGRAM_WEBHOOK_SECRET first: the webhook refuses updates without it")
        client.run(
            lambda bot: bot.set_webhook(
                url=url,
                secret_token=settings.TELEGRAM_WEBHOOK_SECRET,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=options["drop_pending"],
                max_connections=options["max_connections"],
            )
        )
        self.stdout.write(self.style.SUCCESS("Webhook set."))
