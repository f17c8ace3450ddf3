"""Building aiogram's types when they are first used, not when aiogram is imported.

``aiogram.types`` ends by building the pydantic validator of every one of its ~300 types, each with
the schemas of everything it nests (a Message holds almost every other type). That took about 3 s of
CPU and 150 MB in every process that imported aiogram, whereas the webhook validates an ``Update``
and the worker a few API answers. The types are declared ``defer_build`` already; only that last
loop builds them. :func:`install` makes the loop keep each type's names (which it needs to resolve
its forward references later) instead of building it; pydantic then builds a type the first time it
validates with it, exactly as it would have at import. Importing aiogram then costs about 0.8 s and
50 MB, and validating the first update about 0.1 s more.

Installed when the Telegram app is ready (``apps.py``), before anything can import aiogram; a
process that imported aiogram earlier keeps its fully built types, which behave the same.

A process that froze its start-up objects out of the garbage collector (``gc.freeze()``: the web
processes and the writer) imports aiogram later, with its first update, so it freezes again once
aiogram is in: its modules and classes live as long as the process, and full collections would
otherwise walk them (hotline/wsgi.py says what that cost).
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from pydantic import BaseModel

_installed = False
_lock = threading.Lock()
_building = threading.RLock()
_names: dict[str, Any] = {}  # what aiogram.types resolves its forward references with


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        original = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

        def model_rebuild(cls: type[BaseModel], *args: Any, **kwargs: Any) -> bool | None:
            if not cls.__module__.startswith("aiogram.") or _complete(cls):
                return original(cls, *args, **kwargs)  # type: ignore[no-any-return]
            namespace = kwargs.get("_types_namespace")
            if namespace is not None and not args and not kwargs.get("force"):
                _names.update(namespace)  # aiogram.types' loop: keep the names, build later
                return None
            # A first use (pydantic's own rebuild) of a type or an API method: resolve with those
            # names, one build at a time (the worker's sender threads start together).
            with _building:
                if _complete(cls) and not kwargs.get("force"):  # another thread built it meanwhile
                    return None
                if _names and cls.__pydantic_parent_namespace__ is None:
                    cls.__pydantic_parent_namespace__ = _names
                return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

        BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[assignment,method-assign]
        if "aiogram" not in sys.modules:
            sys.meta_path.insert(0, _FreezeAfterImport())
        _installed = True


class _FreezeAfterImport(importlib.abc.MetaPathFinder):
    """Finds aiogram as usual; once it is imported, freezes what exists (if the process froze before)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != "aiogram":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            if gc.get_freeze_count():
                gc.freeze()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _complete(cls: type[BaseModel]) -> bool:
    return bool(cls.__pydantic_complete__)
