from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "hotline.worker"
    label = "worker"
