from django.urls import include, path

from hotline import views
from hotline.channels.telegram.views import webhook as telegram_webhook

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("ping", views.ping, name="ping"),
    path("telegram/webhook", telegram_webhook, name="telegram-webhook"),
    path("voice/", include("hotline.channels.voice.urls")),
    path("accounts/", include("hotline.accounts.urls")),
    path("console/", include("hotline.console.urls")),
    path("", include("hotline.portal.urls")),  # the applicant website: /, /ru/…, /uk/…, /en/…, /apply/…
]
