from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "hotline.portal"
    label = "portal"
    verbose_name = "Applicant website"
