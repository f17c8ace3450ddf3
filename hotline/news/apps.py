from django.apps import AppConfig


class NewsConfig(AppConfig):
    name = "hotline.news"
    label = "news"
    verbose_name = "Posts, subscribers and broadcasts"
