from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "hotline.console"
    label = "console"
    verbose_name = "Operator console"
