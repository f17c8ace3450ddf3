"""The portal's languages: Russian first (most applicants read it), then Ukrainian and English.

The language is always in the URL (``/ru/…``), so a page never needs a cookie to remember it; the
bare ``/`` picks one from the browser's Accept-Language.
"""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("ru", "uk", "en")
DEFAULT = "ru"
NAMES = {"ru": "Русский", "uk": "Українська", "en": "English"}


def negotiate(header: str | None) -> str:
    """The best of our languages for an Accept-Language header (``uk-UA,uk;q=0.9,en;q=0.5``)."""
    best, best_q = DEFAULT, 0.0
    for position, item in enumerate((header or "")[:500].split(",")[:20]):
        code, _, params = item.strip().partition(";")
        base = code.strip().lower().split("-")[0]
        if base not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        q -= position * 1e-6  # equal weights: the earlier entry wins
        if q > best_q:
            best, best_q = base, q
    return best


class LanguageConverter:
    regex = "ru|uk|en"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
