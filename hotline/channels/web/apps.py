from django.apps import AppConfig


class WebChannelConfig(AppConfig):
    name = "hotline.channels.web"
    label = "web"
    verbose_name = "Web channel"
