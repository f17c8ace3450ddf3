"""From text to search terms, per language. Pure Python, no Django.

Russian and Ukrainian words change their endings with case, number and person («повестка»,
«повестку», «повестки»), so a question and an article share few surface forms; pymorphy3 reduces each
word to its dictionary form (lemma). English has little inflection, and the Snowball (Porter 2)
stemmer is enough: it joins "surrender", "surrendered" and "surrendering", and needs no dictionary.

Normalisation before that: lower case, «ё» → «е» (people rarely type «ё»), every apostrophe look-alike
→ ``'`` (Ukrainian «п’ять», «пʼять»), punctuation dropped, one-letter words and stop words dropped.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Protocol

import pymorphy3
import snowballstemmer

from hotline.kb import mapped_dawg

# pymorphy3 announces every dictionary it loads at INFO; that is noise in the service's log.
logging.getLogger("pymorphy3").setLevel(logging.WARNING)

_FOLD = str.maketrans({"ё": "е", "’": "'", "ʼ": "'", "`": "'", "´": "'", "‘": "'", "ʹ": "'"})
# Ukrainian keeps the apostrophe inside a word (п'ять, сім'я); elsewhere it splits words (what's).
_WORD_WITH_APOSTROPHE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_WORD = re.compile(r"[^\W_]+")


# Stop words are compared with lemmas (ru, uk) or with the lower-cased word (en): pronouns,
# prepositions, conjunctions, particles and "to be". Content words such as «можно» stay: BM25's
# idf already weighs them down, and they carry meaning in short questions.
def _listed(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "ru": _listed(
        """
        а без более бы быть в вам вас весь во вот вы где да для до его ее ей если есть еще же за здесь и из
        или им их к как какой когда кто ли либо мне мной мы на над наш не него нее нет ни них но ну о об
        один он она они оно от по под при про с свой себя со так также там то тогда тоже только том тот
        ты у уж уже чем что чтобы чей эта это этот я ваш мой твой вообще вдруг ведь разве бы же ли ка
        пожалуйста подсказать скажите привет здравствуйте
        мочь можно нужно надо делать сделать хотеть стать
        """
    ),
    "uk": _listed(
        """
        а або але б би бо був бути в вам вас ви від він вона вони воно все всі втім де для до ж же з за
        зі и із її їх його й коли мене мені ми мій на над нам нас наш не нема немає ні ну о оце про при
        під та так також там те теж то тобі тоді той ти тільки лише у хто це цей ця цю чи що щоб як який
        яка яке які ваш твій свій себе собі ось ще вже аби хоча ніж через тут там б
        будь ласка підкажіть скажіть привіт вітаю добрий день
        могти можна треба потрібно робити зробити хотіти стати
        """
    ),
    "en": _listed(
        """
        a about am an and any are as at be been being but by can could did do does doing for from had has
        have having he her here hers him his how i if in into is it its just me my myself of on or our
        ours she so some than that the their them then there these they this those to too us very was we
        were what when where which who whom why will with would you your yours please hi hello tell
        s t d ll m re ve should must get got need want
        """
    ),
}

# Spellings people use for the same thing; applied to lemmas before indexing and searching.
SYNONYMS: dict[str, dict[str, str]] = {
    "ru": {"впн": "vpn", "тг": "telegram", "телега": "telegram", "телеграмм": "telegram", "телеграм": "telegram"},
    "uk": {"впн": "vpn", "тг": "telegram", "телеграм": "telegram", "телеграма": "telegram"},
    "en": {},
}


_RU_ONLY = frozenset("ыэъё")
_UK_ONLY = frozenset("іїєґ")


def written_in(text: str) -> set[str]:
    """The languages ``text`` may be written in, judged by its letters alone."""
    letters = {c for c in text.lower() if c.isalpha()}
    if letters & _RU_ONLY and not letters & _UK_ONLY:
        return {"ru"}
    if letters & _UK_ONLY and not letters & _RU_ONLY:
        return {"uk"}
    if any("а" <= c <= "я" for c in letters):
        return {"ru", "uk"}
    if any("a" <= c <= "z" for c in letters):
        return {"en"}
    return set()


def fold(text: str) -> str:
    """Lower case and the character foldings every language shares."""
    return text.lower().translate(_FOLD)


def words(text: str, language: str) -> list[str]:
    """The words of ``text`` after folding, before lemmas or stop words."""
    pattern = _WORD_WITH_APOSTROPHE if language == "uk" else _WORD
    return pattern.findall(fold(text))


class Analyzer(Protocol):
    language: str

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``, in order, repeats kept."""
        ...

    def is_known(self, word: str) -> bool:
        """Whether ``word`` is a real word (so not worth correcting as a typo)."""
        ...

    def surface(self, text: str) -> list[str]:
        """The words of ``text`` as written (folded), without stop words: no lemma, no stem."""
        ...


class _MorphAnalyzer:
    """Lemmas from pymorphy3's dictionaries (Russian or Ukrainian).

    A word form can belong to several words («нашли»: найти or наслать; «данные»: данные or дать),
    and pymorphy3's first guess is often the rarer one; every lemma within ``AMBIGUITY`` of the
    best-scored parse is kept, so the question and the article meet on the right one.
    """

    AMBIGUITY = 0.5

    def __init__(self, language: str, *, lemmas: bool = True) -> None:
        self.language = language
        self._morph = _morph(language) if lemmas else None
        self._stop = STOP_WORDS[language]
        self._synonyms = SYNONYMS[language]
        self.lemmas: Callable[[str], tuple[str, ...]] = lru_cache(maxsize=200_000)(self._lemmas)

    def _lemmas(self, word: str) -> tuple[str, ...]:
        if self._morph is None:
            return (word,)
        parses = self._morph.parse(word)
        best = parses[0].score
        found = dict.fromkeys(fold(p.normal_form) for p in parses if p.score >= best * self.AMBIGUITY)
        kept = tuple(self._synonyms.get(lemma, lemma) for lemma in found if lemma not in self._stop)
        # A word whose likeliest reading is a stop word («мочь», «быть») is one.
        return () if fold(parses[0].normal_form) in self._stop else kept

    def terms(self, text: str) -> list[str]:
        out: list[str] = []
        for word in words(text, self.language):
            if len(word) >= 2 and word not in self._stop:
                out.extend(self.lemmas(word))
        return out

    def is_known(self, word: str) -> bool:
        return self._morph is None or bool(self._morph.word_is_known(word))

    def surface(self, text: str) -> list[str]:
        return [w for w in words(text, self.language) if len(w) >= 2 and w not in self._stop]


class _EnglishAnalyzer:
    """Snowball (Porter 2) stems."""

    language = "en"

    def __init__(self, *, stems: bool = True) -> None:
        self._stemmer = snowballstemmer.stemmer("english") if stems else None
        self._lock = threading.Lock()  # a Snowball stemmer object keeps state between calls
        self._stop = STOP_WORDS["en"]
        self.stem: Callable[[str], str] = lru_cache(maxsize=200_000)(self._stem)

    def _stem(self, word: str) -> str:
        if self._stemmer is None:
            return word
        with self._lock:
            return str(self._stemmer.stemWord(word))

    def terms(self, text: str) -> list[str]:
        return [self.stem(w) for w in words(text, "en") if len(w) > 1 and w not in self._stop]

    def is_known(self, word: str) -> bool:
        # No dictionary: a word is "known" when its stem differs from the word (it had an ending).
        return self.stem(word) != word

    def surface(self, text: str) -> list[str]:
        return [w for w in words(text, "en") if len(w) > 1 and w not in self._stop]


_morph_lock = threading.Lock()
_morphs: dict[str, pymorphy3.MorphAnalyzer] = {}


def _morph(language: str) -> pymorphy3.MorphAnalyzer:
    """One pymorphy3 analyzer per language per process: loading the dictionary takes ~0.1 s; its word
    lists are read through a memory map of their files (``mapped_dawg``), not into the heap."""
    with _morph_lock:
        if language not in _morphs:
            mapped_dawg.install()
            _morphs[language] = pymorphy3.MorphAnalyzer(lang=language)
        return _morphs[language]


@cache
def analyzer(language: str, *, morphology: bool = True) -> Analyzer:
    """The analyzer for ``language``; ``morphology=False`` keeps surface words (the benchmark's comparison).

    One per language per process, so every rebuilt index reuses the lemmas already worked out.
    """
    if language == "en":
        return _EnglishAnalyzer(stems=morphology)
    if language in ("ru", "uk"):
        return _MorphAnalyzer(language, lemmas=morphology)
    raise ValueError(f"no analyzer for language {language!r}")
