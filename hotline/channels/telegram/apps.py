from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "hotline.channels.telegram"
    label = "telegram"
    verbose_name = "Telegram channel"

    def ready(self) -> None:
        from hotline.channels.base import register

        from . import lazy_types

        lazy_types.install()  # before anything imports aiogram (lazy_types.py says why)

        from .channel import TelegramChannel

        register(TelegramChannel())
