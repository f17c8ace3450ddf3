from django.apps import AppConfig


class TelegramConfig(AppConfig):
    name = "hotline.channels.telegram"
    label = "telegram"
    verbose_name = "Telegram channel"
