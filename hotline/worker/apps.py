from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "hotline.worker"
    label = "worker"

    def ready(self) -> None:
        from hotline.middleware import trim_request_signals

        trim_request_signals()
