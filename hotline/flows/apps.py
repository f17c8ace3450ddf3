from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "hotline.flows"
    label = "flows"

    def ready(self) -> None:
        # The intake flow declares the languages; each needs its files. A missing one stops the
        # process at start-up with its path, rather than the first applicant who picks the language.
        from hotline import languages

        languages.check()
