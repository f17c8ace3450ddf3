import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
os.umask(0o077)
application = get_wsgi_application()

# Load now what the first requests would otherwise load while others wait: the URL patterns (the
# views; aiogram is not among them, the webhook imports it with its first update). And, if this
# process answers the bot itself (no writer process), the knowledge base, which a question to the bot
# would otherwise build inside the database's write turn (about 0.5 s and 60 MB: a process that
# does not answer the bot builds it when a search first needs it).
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 (imports the URL configuration)
if settings.TELEGRAM_MODE == "webhook" and not settings.HOTLINE_WRITER_SOCKET:
    from hotline.kb.search import warm_up

    warm_up()
# What start-up made (modules, URL patterns, the knowledge base index: some 300,000
# objects) lives as long as the process; keep it out of the cyclic collector's full passes, which
# would otherwise stop every request thread of this process for about 170 ms each time.
gc.freeze()

# Under `hotline serve`: tell it this web process is ready (it reports the process down until then).
if settings.HOTLINE_SERVE_STATUS is not None:
    from hotline.worker.supervise import mark_web_ready

    mark_web_ready(settings.HOTLINE_SERVE_STATUS)
