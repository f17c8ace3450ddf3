"""Human codes: random secrets people write down or dictate (recovery key, receipts).

Crockford's Base32 alphabet (no I, L, O, U), read back tolerant of case, spaces, dashes and look-alike
characters (O→0, I/L→1), with a Luhn mod-32 check character from the same alphabet (so it is as easy
to dictate as the rest), which catches every single mistyped character and most swapped neighbours
before any lookup is made.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE = len(ALPHABET)
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\t\n")


class CodeError(ValueError):
    """The text is not a well-formed code (wrong characters, wrong length or a failed check)."""


def generate(bits: int) -> str:
    """A random code of at least ``bits`` bits, as Base32 digits followed by one check symbol."""
    ndigits = -(-bits // 5)
    digits = "".join(secrets.choice(ALPHABET) for _ in range(ndigits))
    return digits + check_symbol(digits)


def check_symbol(digits: str) -> str:
    """Luhn mod N (N = 32): double every second code point from the right, add the base-32 digits."""
    total, factor = 0, 2
    for ch in reversed(digits):
        addend = factor * ALPHABET.index(ch)
        total += addend // _BASE + addend % _BASE
        factor = 3 - factor
    return ALPHABET[(_BASE - total % _BASE) % _BASE]


def normalise(text: str, ndigits: int) -> str:
    """Canonical form of a typed code, or :class:`CodeError` saying what is wrong."""
    cleaned = text.upper().translate(_SEPARATORS).translate(_LOOKALIKES)
    if len(cleaned) != ndigits + 1:
        raise CodeError(f"expected {ndigits + 1} characters, got {len(cleaned)}")
    digits, check = cleaned[:-1], cleaned[-1]
    bad = [ch for ch in cleaned if ch not in ALPHABET]
    if bad:
        raise CodeError("contains characters that are not used in codes")
    if check_symbol(digits) != check:
        raise CodeError("the check character does not match: a character is mistyped")
    return cleaned


def group(code: str, size: int = 4) -> str:
    """``ABCD-EFGH-…`` for printing and dictation."""
    return "-".join(code[i : i + size] for i in range(0, len(code), size))


def to_bytes(code: str) -> bytes:
    """The digits of a normalised code as an integer's big-endian bytes (for deriving keys)."""
    value = 0
    for ch in code[:-1]:
        value = value * 32 + ALPHABET.index(ch)
    nbytes = (len(code[:-1]) * 5 + 7) // 8
    return value.to_bytes(nbytes, "big")


# The recovery key: 260 random bits (52 digits + check), printed once at setup.
RECOVERY_DIGITS = 52


def new_recovery_key() -> str:
    return generate(RECOVERY_DIGITS * 5)


def parse_recovery_key(text: str) -> str:
    return normalise(text, RECOVERY_DIGITS)
