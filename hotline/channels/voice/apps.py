from django.apps import AppConfig


class VoiceConfig(AppConfig):
    name = "hotline.channels.voice"
    label = "voice"
    verbose_name = "Phone line"

    def ready(self) -> None:
        from hotline.channels.base import register

        from .channel import VoiceChannel

        register(VoiceChannel())
