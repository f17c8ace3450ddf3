from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "hotline.flows"
    label = "flows"
