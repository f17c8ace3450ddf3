"""The portal's languages: those the hotline declares (``hotline/languages.py``), in its order.

The language is always in the URL (``/ru/…``), so a page never needs a cookie to remember it; the
bare ``/`` picks one from the browser's Accept-Language.
"""

from __future__ import annotations

from hotline import languages


def negotiate(header: str | None) -> str:
    """The best of our languages for an Accept-Language header (``uk-UA,uk;q=0.9,en;q=0.5``)."""
    offered = languages.codes()
    best, best_q = languages.default(), 0.0
    for position, item in enumerate((header or "")[:500].split(",")[:20]):
        code, _, params = item.strip().partition(";")
        base = code.strip().lower().split("-")[0]
        if base not in offered:
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
    """A language code in a URL: any two or three letters match, a language not declared is a 404."""

    regex = "[a-z]{2,3}"

    def to_python(self, value: str) -> str:
        if value not in languages.codes():
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value
