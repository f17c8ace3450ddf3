"""What ``hotline serve``'s children run, forked from serve (``hotline/worker/supervise.py``), and what
serve loads before it forks them so that they share it.

A new interpreter per child held its own copy of Django, the application and the libraries it loads
at start (about 50 MB each, six processes, and the knowledge base's 60 MB in the process answering
the bot). Serve loads all of that once, keeps it out of the cyclic collector's passes (``gc.freeze``:
a pass would write to every object, so to every shared page) and forks each child from there: the
pages stay shared until a child writes to them. A child is ready at once, and one that is restarted
is forked again from the same loaded state.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections


def adopt_environment(env: dict[str, str]) -> None:
    """Make ``env`` this process's environment, and its settings what they would have been had it
    started with it (serve's children used to be started with it; forked, they inherit serve's)."""
    os.environ.clear()
    os.environ.update(env)
    name = os.environ["DJANGO_SETTINGS_MODULE"]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    for key in dir(fresh):
        if key.isupper():
            value = getattr(fresh, key)
            if getattr(settings, key, _MISSING) != value:
                setattr(settings, key, value)


_MISSING = object()


def preload() -> None:
    """Load in serve, before the first fork, what its children load at start: the WSGI application
    with its views, the worker's and the writer's code, and the knowledge base if the bot is on (the
    process that answers the bot's questions builds it at start: the writer, or on PostgreSQL every
    web process). Then close every database connection (a child must open its own) and freeze what
    was loaded."""
    from hotline.webapp import load_application
    from hotline.worker.management.commands import worker, writer  # noqa: F401 (loaded to be shared)

    load_application()
    if settings.TELEGRAM_MODE != "off":
        from hotline.kb.search import warm_up

        warm_up()
    if settings.TELEGRAM_BOT_TOKEN:
        _load_telegram()
    close_connections()
    gc.collect()
    gc.freeze()


# What the children validate first: each kind of update the bot handles (the web processes and the
# writer), and the answers to the API methods the worker calls (hotline/channels/telegram/adapter.py).
_SAMPLE_USER = {"id": 1, "is_bot": False, "first_name": "A", "language_code": "ru"}
_SAMPLE_CHAT = {"id": 1, "type": "private", "first_name": "A"}
_SAMPLE_MESSAGE = {"message_id": 1, "date": 1_700_000_000, "chat": _SAMPLE_CHAT, "from": _SAMPLE_USER, "text": "/start"}
_SAMPLE_UPDATES: list[dict[str, Any]] = [
    {"update_id": 1, "message": {**_SAMPLE_MESSAGE, "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}},
    {
        "update_id": 2,
        "callback_query": {
            "id": "1",
            "from": _SAMPLE_USER,
            "chat_instance": "1",
            "message": _SAMPLE_MESSAGE,
            "data": "x",
        },
    },
]
_METHODS = (
    "SendMessage",
    "SendPhoto",
    "DeleteMessage",
    "DeleteMessages",
    "AnswerCallbackQuery",
    "EditMessageText",
    "EditMessageCaption",
    "GetFile",
    "GetUpdates",
)


def _load_telegram() -> None:
    """aiogram, for the four children that handle the bot (the web processes and the writer take its
    updates, the worker delivers its replies): imported here, and the types they use first built here
    (aiogram builds a type on first use, ``channels/telegram/lazy_types.py``), once instead of four times."""
    import aiogram.methods
    from aiogram.types import Update

    from hotline.channels.telegram import adapter, polling  # noqa: F401 (loaded to be shared)

    for sample in _SAMPLE_UPDATES:
        Update.model_validate(sample)
    for name in _METHODS:
        method = getattr(aiogram.methods, name)
        method.model_rebuild()
        returning = method.__returning__
        if isinstance(returning, type) and hasattr(returning, "model_rebuild"):
            returning.model_rebuild()


def close_connections() -> None:
    """Before a fork: a child must not inherit serve's connection (two processes on one socket)."""
    connections.close_all()


def run_writer(address: str) -> int:
    call_command("writer", socket=address)
    return 0


def run_worker() -> int:
    call_command("worker")
    return 0


def run_web(host: str, port: int, threads: int) -> int:
    """One granian server with one worker process (forked from this one: it shares serve's pages too).
    The web processes all listen on the port (SO_REUSEPORT), so each can be restarted alone; granian
    itself does not restart its worker (it would give up after two quick crashes): serve restarts the
    whole server."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    server = Granian(
        "hotline.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=threads,
        websockets=False,
        log_access=False,
        log_level=LogLevels.warning,
        respawn_failed_workers=False,
        # No kill timeout of granian's own: with one, granian's stop joins its worker from two threads
        # (its watcher's join and the stop's), and when the watcher reaps the worker first, the stop
        # finds it "alive" (waitpid: no such child) and logs "Killing worker-1 after it refused to
        # gracefully stop" for a worker that had stopped cleanly, SIGKILL to a pid that is free. A web
        # process that does not stop is killed with its whole process group by serve after 15 s.
        workers_kill_timeout=None,
    )
    # Granian warns at every start when the threads outnumber twice the cores. Here that is meant:
    # a webhook request thread only waits for the group commit (HOTLINE_WEB_THREADS).
    logging.getLogger("_granian").addFilter(_IntendedThreads())
    server.serve(target_loader=_application)
    return 0


class _IntendedThreads(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Configuration allows spawning up to")


def _application(target: str) -> Any:
    """Granian's loader, in its worker process: the application serve loaded, and the mark that this
    web process is ready."""
    from hotline.webapp import load_application, mark_ready

    application = load_application()
    mark_ready()
    return application
