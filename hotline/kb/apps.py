from django.apps import AppConfig


class KbConfig(AppConfig):
    name = "hotline.kb"
    label = "kb"
    verbose_name = "Knowledge base"
