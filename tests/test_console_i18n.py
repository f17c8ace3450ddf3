"""The console in Ukrainian: every catalogue entry translated, and the compiled catalogue current."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import translation

from hotline.console.labels import LABELS
from hotline.console.navigation import NAV

PO = Path(__file__).resolve().parents[1] / "hotline" / "locale" / "uk" / "LC_MESSAGES" / "django.po"
_ENTRY = re.compile(r'\nmsgid ((?:"(?:[^"\\]|\\.)*"\n)+)msgstr ((?:"(?:[^"\\]|\\.)*"\n)+)')


def _text(block: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block)).replace('\\"', '"').replace("\\n", "\n")


def entries() -> list[tuple[str, str]]:
    return [(_text(a), _text(b)) for a, b in _ENTRY.findall(PO.read_text(encoding="utf-8")) if _text(a)]


def test_every_catalogue_entry_has_a_ukrainian_translation() -> None:
    found = entries()
    assert len(found) > 300
    assert [msgid for msgid, msgstr in found if not msgstr] == []


def test_the_compiled_catalogue_matches_the_source() -> None:
    with translation.override("uk"):
        stale = [msgid for msgid, msgstr in entries() if translation.gettext(msgid) != msgstr]
    assert stale == [], "run: cd hotline && ../.venv/bin/hotline compilemessages"


def test_labels_and_navigation_are_translated() -> None:
    with translation.override("uk"):
        untranslated = [k for k, v in LABELS.items() if str(v) == k and k != "telegram"]
        assert untranslated == []
        assert str(NAV[0].label) == "Черга"
