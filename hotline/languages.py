"""The languages the hotline speaks to applicants: declared in data, never in code.

The intake flow file (``$HOTLINE_FLOWS_DIR/intake.yaml``) declares them: ``languages`` in the order
they are offered, ``default_language``, and each one's name in itself (``texts.language_name``). Every
flow text is given in each of them (the flow loader refuses a file that misses one). A declared
language also needs (docs/languages.md):

1. the bot's phrases, ``<code>.yaml``: in ``HOTLINE_TELEGRAM_PHRASES_DIR`` when that has it, else the
   shipped ``hotline/channels/telegram/content/``; every key of the default language's file;
2. the website's pages, ``<code>/<page>.md`` for every page: in ``HOTLINE_PORTAL_CONTENT_DIR`` when
   that has it, else the shipped ``hotline/portal/content/``.

Optional: a language in the voice menu (the phone line offers the languages its menu lists, and each
must be declared) and a website catalogue (``hotline/portal/locale/<code>/``; without one the form's
buttons are in English). :func:`check` runs when the process starts and names the first missing file.
The bot, the website's language links and the console's phone intake all ask this module, so a new
language is files only. A change to the declared set takes effect on restart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

INTAKE = "intake"
TELEGRAM_SHIPPED = Path(__file__).resolve().parent / "channels" / "telegram" / "content"
PORTAL_SHIPPED = Path(__file__).resolve().parent / "portal" / "content"


class LanguageError(ImproperlyConfigured):
    """A declared language lacks a file it needs (the message names it), or a file is malformed."""


@dataclass(frozen=True)
class Languages:
    codes: tuple[str, ...]  # in the order they are offered
    default: str
    names: Mapping[str, str]  # code -> the language's name in itself
    declared_in: Path


def current() -> Languages:
    """The declared languages, read once per process (per flows directory: tests point it elsewhere)."""
    return _read(str(settings.HOTLINE_FLOWS_DIR))


@functools.cache
def _read(flows_dir: str) -> Languages:
    from hotline.core.flow_loader import FlowError, load_flow

    path = Path(flows_dir) / f"{INTAKE}.yaml"
    try:
        flow = load_flow(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LanguageError(f"the intake flow {path} declares the languages, and it cannot be read ({exc})") from exc
    except FlowError as exc:
        raise LanguageError(f"{path}: {exc}") from exc
    names = {code: flow.text("language_name", code) for code in flow.languages}
    return Languages(flow.languages, flow.default_language, names, path)


def codes() -> tuple[str, ...]:
    return current().codes


def default() -> str:
    return current().default


def name(code: str) -> str:
    """The language's name in itself (``Українська``); the code for a language not declared."""
    return current().names.get(code, code)


def choices() -> list[tuple[str, str]]:
    """(code, name) pairs in the order they are offered, for a form's choice of language."""
    found = current()
    return [(code, found.names[code]) for code in found.codes]


def supported(code: str | None) -> str | None:
    """The declared language a code such as ``uk``, ``UK`` or ``uk-UA`` means; None when not declared."""
    base = (code or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in current().codes else None


# --- the files a language needs --------------------------------------------------------------------


def _first(candidates: list[Path]) -> Path:
    return next((path for path in candidates if path.is_file()), candidates[-1])


def _phrases_candidates(code: str) -> list[Path]:
    configured = getattr(settings, "HOTLINE_TELEGRAM_PHRASES_DIR", None)
    shipped = TELEGRAM_SHIPPED / f"{code}.yaml"
    return [Path(configured) / f"{code}.yaml", shipped] if configured is not None else [shipped]


def _page_candidates(code: str, slug: str) -> list[Path]:
    configured = settings.HOTLINE_PORTAL_CONTENT_DIR
    shipped = PORTAL_SHIPPED / code / f"{slug}.md"
    return [Path(configured) / code / f"{slug}.md", shipped] if configured is not None else [shipped]


def phrases_path(code: str) -> Path:
    """Where the bot's phrases in ``code`` are read from: the deployment's directory, else the shipped."""
    return _first(_phrases_candidates(code))


def portal_page_path(code: str, slug: str) -> Path:
    """Where a website page's file text in ``code`` is read from: the deployment's directory, else the shipped."""
    return _first(_page_candidates(code, slug))


def read_phrases(path: Path) -> dict[str, str]:
    """A phrases file: a mapping of phrase keys to texts. LanguageError naming the file otherwise."""
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LanguageError(f"{path} cannot be read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise LanguageError(f"{path} is not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise LanguageError(f"{path} must be a mapping of phrase keys to texts")
    return data


def check() -> Languages:
    """Every declared language has every file it needs; LanguageError naming the first one missing."""
    found = current()
    where = found.declared_in
    required = read_phrases(_need(_phrases_candidates(found.default), found.default, where, "the bot's phrases"))
    for code in found.codes:
        path = _need(_phrases_candidates(code), code, where, "the bot's phrases")
        given = read_phrases(path)
        missing = sorted(set(required) - set(given))
        if missing:
            raise LanguageError(f"{path} lacks the phrases {', '.join(missing)} (the {found.default} file has them)")
        unknown = sorted(set(given) - set(required))
        if unknown:
            raise LanguageError(f"{path} has phrases the bot does not know: {', '.join(unknown)}")
        _check_portal(code, where)
    _check_voice_menu(found)
    _check_telegram_channels(found)
    return found


def _need(candidates: list[Path], code: str, where: Path, what: str) -> Path:
    """The first of the places a file may be; LanguageError naming them all when it is in none."""
    for path in candidates:
        if path.is_file():
            return path
    places = " or ".join(str(path) for path in candidates)
    raise LanguageError(f"the language {code!r} (declared in {where}) needs {what}: {places} is missing")


def _check_portal(code: str, where: Path) -> None:
    from hotline.portal.content import PAGES

    for slug in PAGES:
        _need(_page_candidates(code, slug), code, where, f"the website's page {slug!r}")


def _check_voice_menu(found: Languages) -> None:
    from hotline.channels.voice import menu

    try:
        loaded = menu.load(menu.menu_path())
    except menu.MenuError:
        return  # a menu that does not load is reported when a call arrives, as before
    for lang in loaded.languages:
        if lang.code not in found.codes:
            raise LanguageError(
                f"{menu.menu_path()}: the voice menu offers {lang.code!r}, which {found.declared_in} does not declare"
            )


def _check_telegram_channels(found: Languages) -> None:
    for code in settings.TELEGRAM_CHANNELS:
        if code != "*" and code not in found.codes:
            raise LanguageError(
                f"TELEGRAM_CHANNELS names {code!r}, which {found.declared_in} does not declare "
                f"({', '.join(found.codes)} or *)"
            )
