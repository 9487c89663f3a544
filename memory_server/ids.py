"""The rule every id follows (user, session, source, tenant, request, fact), in plain Python.

It lives apart from `schemas` so that light processes (the agent hook) hold ids to the same rule without
importing pydantic; `schemas.Identifier` wraps it for every door.
"""

from __future__ import annotations

import re
import unicodedata

MAX_ID_LENGTH = 256
ID_PUNCTUATION = "_.-@:+=|~"
_ID_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + ID_PUNCTUATION)
#: Unicode's default-ignorable code points (DerivedCoreProperties.txt): drawn as nothing, so "alice" followed by
#: one would look like "alice". Some are letters or marks (Hangul fillers, variation selectors).
_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_ROW_NUMBER = re.compile(r"[1-9][0-9]{0,17}")


def is_id_character(ch: str) -> bool:
    """ASCII letters, digits and ID_PUNCTUATION, or any other Unicode letter, mark or digit that is drawn.

    Each survives a URL path segment unchanged (percent-encoded or not), so every id that can be stored can be
    named in a path; marks are needed to write names in scripts such as Devanagari.
    """
    if ch.isascii():
        return ch in _ID_ASCII
    return unicodedata.category(ch)[0] in "LMN" and not _invisible(ch)


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE)


def _shown(ch: str) -> str:
    """A character as an error names it: itself in quotes, or its code point when it would not be seen."""
    if ch.isprintable() and not _invisible(ch):
        return repr(ch)
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}, invisible)"


def row_number(text: str) -> int | None:
    """A positive integer written in ASCII digits that fits a database row id (< 2**63), else None; `int()` would
    also take "²" or "١" and numbers of any size."""
    text = text.strip()
    return int(text) if _ROW_NUMBER.fullmatch(text) else None


def check_identifier(value: str) -> str:
    """`value` if it is a valid id, else ValueError saying what to change (the length is checked by the caller)."""
    if not value.strip():
        raise ValueError("must not be empty")
    bad = next((ch for ch in value if not is_id_character(ch)), None)
    if bad is not None:
        raise ValueError(f"must not contain {_shown(bad)}: use letters, digits and {' '.join(ID_PUNCTUATION)}")
    if value.strip(".") == "":
        raise ValueError("must not be only dots")
    return value
