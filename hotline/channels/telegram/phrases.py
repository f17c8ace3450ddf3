"""What the bot says outside the flow, in each language the hotline speaks.

Flow texts live in the flow file; these are the bot's own short answers (commands, files, receipts),
one data file per language: ``content/<code>.yaml`` (or ``$HOTLINE_TELEGRAM_PHRASES_DIR/<code>.yaml``).
Which languages exist, and which is the default, is declared once (``hotline/languages.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from hotline import languages


def language_for(code: str | None) -> str:
    """The hotline language for a Telegram ``language_code`` (the default when it is not one of ours)."""
    return languages.supported(code) or languages.default()


def phrase(key: str, language: str) -> str:
    """The phrase in ``language``; in the default language when that file lacks it (the start-up
    check refuses a declared language whose file lacks a phrase, so this is for undeclared codes)."""
    texts = _phrases(str(languages.phrases_path(language)))
    found = texts.get(key)
    if found is None:
        found = _phrases(str(languages.phrases_path(languages.default())))[key]
    return found


@functools.cache
def _phrases(path: str) -> dict[str, str]:
    file = Path(path)
    return languages.read_phrases(file) if file.is_file() else {}
