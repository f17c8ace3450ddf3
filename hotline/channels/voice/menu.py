"""The voice menu as data (``content/menu.yaml``) and the spoken texts taken from the page texts.

The file is read and checked once per process; an error names what is wrong and where, at start-up
of the first call rather than in the middle of one. A language, a key or a sentence is never
written in code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from hotline.portal import content

SHIPPED = Path(__file__).resolve().parent / "content" / "menu.yaml"
ACTIONS = frozenset({"page", "operator", "voicemail", "callback", "repeat"})
PROMPTS = frozenset(
    {
        "welcome",
        "press",
        "not_understood",
        "no_text",
        "connecting",
        "no_operator",
        "nobody_answered",
        "voicemail",
        "voicemail_thanks",
        "no_recording",
        "callback_ok",
        "callback_needs_number",
        "goodbye",
        "operator_whisper",
        "callback_whisper",
        "callback_no_answer",
    }
)
# What one reading of a page may last: about a minute and a half of speech.
SPOKEN_LIMIT = 1400
KEY = re.compile(r"^[0-9*#]$")


class MenuError(Exception):
    pass


@dataclass(frozen=True)
class Language:
    code: str
    key: str
    say: str  # the provider's language code (ru-RU)
    choose: str


@dataclass(frozen=True)
class Item:
    key: str
    action: str
    label: dict[str, str]
    page: str = ""


@dataclass(frozen=True)
class Menu:
    languages: tuple[Language, ...]
    items: tuple[Item, ...]
    prompts: dict[str, dict[str, str]]

    def language(self, code: str) -> Language | None:
        return next((lang for lang in self.languages if lang.code == code), None)

    def language_by_key(self, key: str) -> Language | None:
        return next((lang for lang in self.languages if lang.key == key), None)

    def item(self, key: str) -> Item | None:
        return next((item for item in self.items if item.key == key), None)

    def prompt(self, name: str, language: str, **values: str) -> str:
        text = self.prompts[name][language]
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def choices(self, language: str) -> list[str]:
        """The menu read out: one sentence per key."""
        return [self.prompt("press", language, label=i.label[language], key=i.key) for i in self.items]


def menu_path() -> Path:
    configured = getattr(settings, "HOTLINE_VOICE_MENU", None)
    return Path(configured) if configured else SHIPPED


@functools.cache
def load(path: Path | None = None) -> Menu:
    path = path or menu_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{path}: cannot read the voice menu ({exc})") from None
    return parse(raw, str(path))


def parse(raw: Any, where: str = "menu") -> Menu:
    if not isinstance(raw, dict):
        raise MenuError(f"{where}: expected a mapping with languages, menu and prompts")
    languages = []
    for n, entry in enumerate(raw.get("languages") or []):
        place = f"{where}: languages[{n}]"
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("code", "key", "say")):
            raise MenuError(f"{place}: needs code, key and say")
        if not KEY.match(entry["key"]):
            raise MenuError(f"{place}: key must be one keypad key")
        languages.append(Language(entry["code"], entry["key"], entry["say"], str(entry.get("choose", ""))))
    if not languages:
        raise MenuError(f"{where}: no languages")
    codes = [lang.code for lang in languages]
    for name, values in (("language codes", codes), ("language keys", [lang.key for lang in languages])):
        if len(set(values)) != len(values):
            raise MenuError(f"{where}: {name} repeat")
    items = []
    for n, entry in enumerate(raw.get("menu") or []):
        place = f"{where}: menu[{n}]"
        if not isinstance(entry, dict) or entry.get("action") not in ACTIONS:
            raise MenuError(f"{place}: action must be one of {', '.join(sorted(ACTIONS))}")
        key = str(entry.get("key", ""))
        if not KEY.match(key):
            raise MenuError(f"{place}: key must be one keypad key")
        label = entry.get("label") or {}
        if not isinstance(label, dict) or any(not isinstance(label.get(c), str) for c in codes):
            raise MenuError(f"{place}: label needs a text in every language ({', '.join(codes)})")
        page = str(entry.get("page", ""))
        if entry["action"] == "page" and page not in content.PAGES:
            raise MenuError(f"{place}: page must be one of the website's pages ({', '.join(content.PAGES)})")
        items.append(Item(key, entry["action"], {c: label[c] for c in codes}, page))
    if len({i.key for i in items}) != len(items):
        raise MenuError(f"{where}: menu keys repeat")
    prompts_raw = raw.get("prompts") or {}
    prompts: dict[str, dict[str, str]] = {}
    for name in sorted(PROMPTS):
        texts = prompts_raw.get(name) if isinstance(prompts_raw, dict) else None
        if not isinstance(texts, dict) or any(not isinstance(texts.get(c), str) for c in codes):
            raise MenuError(f"{where}: prompts.{name} needs a text in every language ({', '.join(codes)})")
        prompts[name] = {c: texts[c] for c in codes}
    return Menu(tuple(languages), tuple(items), prompts)


_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[*_`>#|]+")


def spoken(markdown: str, limit: int = SPOKEN_LIMIT) -> str:
    """A page's text as a voice reads it: no markup, links as their words, cut at a sentence end."""
    sentences: list[str] = []
    for raw_line in markdown.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("```") or set(line) <= set("-=*_ "):
            continue
        line = re.sub(r"^[-+*]\s+|^\d+[.)]\s+", "", line)
        line = _MARKS.sub("", _LINK.sub(r"\1", line)).strip()
        if not line:
            continue
        if line[-1] not in ".!?:;…":
            line += "."
        sentences.append(line)
    text = " ".join(sentences)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut


def page_speech(language: str, slug: str) -> str:
    """What the caller hears for a ``page`` item: the page text as the website shows it now."""
    try:
        return spoken(content.page_text(language, slug))
    except content.ContentError:
        return ""
