from django.apps import AppConfig


class FiguresConfig(AppConfig):
    name = "hotline.figures"
    label = "figures"
    verbose_name = "Figures and their releases"
