from django.apps import AppConfig


class WebChannelConfig(AppConfig):
    name = "hotline.channels.web"
    label = "web"
    verbose_name = "Web channel"

    def ready(self) -> None:
        from hotline.channels.base import register

        from .channel import WebChannel

        register(WebChannel())
