"""The WSGI application as a web process loads it: ``hotline/wsgi.py`` for any WSGI server, and the web
processes ``hotline serve`` forks (``hotline/worker/children.py``), which share what serve loaded.

Loading does now what the first requests would otherwise do while others wait: the URL patterns (the
views; aiogram is not among them, the webhook imports it with its first update) and, if this process
answers the bot itself (no writer process), the knowledge base, which a question to the bot would
otherwise build inside the database's write turn (about 0.5 s and 60 MB). What start-up made
(modules, URL patterns, the knowledge base's index: some 300,000 objects) lives as long as the
process, so it is kept out of the cyclic collector's full passes (``gc.freeze``), which would
otherwise stop every request thread of the process for about 170 ms each time, and, in a forked
process, write to every page it shares with its parent.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.handlers.wsgi import WSGIHandler

_application: WSGIHandler | None = None


def load_application() -> WSGIHandler:
    """The application, loaded once per process (a forked process finds it loaded)."""
    global _application
    if _application is None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotline.settings")
        os.umask(0o077)
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application
        from django.urls import get_resolver

        application = get_wsgi_application()
        get_resolver().url_patterns  # noqa: B018 (imports the URL configuration)
        if settings.TELEGRAM_MODE == "webhook" and not settings.HOTLINE_WRITER_SOCKET:
            from hotline.kb.search import warm_up

            warm_up()
        gc.freeze()
        _application = application
    return _application


def mark_ready() -> None:
    """Under ``hotline serve``: tell it this web process is ready (it reports the process down until
    then). Called in the server's worker process once the application is loaded."""
    from django.conf import settings

    if settings.HOTLINE_SERVE_STATUS is not None:
        from hotline.worker.supervise import mark_web_ready

        mark_web_ready(settings.HOTLINE_SERVE_STATUS)
