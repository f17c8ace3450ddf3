"""Receipts: the applicant's way back in (from another phone, on the website, on the phone line).

80 random bits as 16 Crockford Base32 characters plus a check character, printed as
``XXXX-XXXX-XXXX-XXXX-C``: short enough to memorise or dictate, tolerant of case, spaces and look-alike
characters, and a mistyped character is caught before any lookup. Stored only as a keyed blind index.
"""

from __future__ import annotations

from hotline.core import codes

RECEIPT_DIGITS = 16
BLIND_INDEX_DOMAIN = "receipt"


def new_receipt() -> str:
    """A fresh receipt in canonical form (no separators)."""
    return codes.generate(RECEIPT_DIGITS * 5)


def parse_receipt(text: str) -> str:
    """The canonical receipt in ``text``, or :class:`codes.CodeError` saying what is wrong."""
    return codes.normalise(text, RECEIPT_DIGITS)


def looks_like_receipt(text: str) -> bool:
    """True when ``text`` is a well-formed receipt (right length, alphabet and check character)."""
    try:
        parse_receipt(text)
    except codes.CodeError:
        return False
    return True


def display(receipt: str) -> str:
    return codes.group(receipt, 4)
