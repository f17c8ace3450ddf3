from django.apps import AppConfig


class PageTextsConfig(AppConfig):
    name = "hotline.pagetexts"
    label = "pagetexts"
    verbose_name = "Website page texts"

    def ready(self) -> None:
        from hotline.pagetexts.reading import current_text
        from hotline.portal.content import register_source

        register_source(current_text)
