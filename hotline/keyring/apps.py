from django.apps import AppConfig


class KeyringConfig(AppConfig):
    name = "hotline.keyring"
    label = "keyring"
