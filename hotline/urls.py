from django.urls import path

from hotline import views
from hotline.channels.telegram.views import webhook as telegram_webhook

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("telegram/webhook", telegram_webhook, name="telegram-webhook"),
]
