from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "hotline.outbox"
    label = "outbox"
