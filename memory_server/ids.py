"""The rule every id follows (user, session, source, tenant, request, fact), in plain Python.

It lives apart from `schemas` so that light processes (the agent hook) hold ids to the same rule without
importing pydantic; `schemas.Identifier` wraps it for every door.
"""

from __future__ import annotations

import unicodedata

MAX_ID_LENGTH = 256
ID_PUNCTUATION = "_.-@:+=|~"
_ID_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + ID_PUNCTUATION)


def is_id_character(ch: str) -> bool:
    """ASCII letters, digits and ID_PUNCTUATION, or any other Unicode letter, mark or digit.

    Each survives a URL path segment unchanged (percent-encoded or not), so every id that can be stored can be
    named in a path; marks are needed to write names in scripts such as Devanagari.
    """
    if ch.isascii():
        return ch in _ID_ASCII
    return unicodedata.category(ch)[0] in "LMN"


def check_identifier(value: str) -> str:
    """`value` if it is a valid id, else ValueError saying what to change (the length is checked by the caller)."""
    if not value.strip():
        raise ValueError("must not be empty")
    bad = next((ch for ch in value if not is_id_character(ch)), None)
    if bad is not None:
        raise ValueError(f"must not contain {bad!r}: use letters, digits and {' '.join(ID_PUNCTUATION)}")
    if value.strip(".") == "":
        raise ValueError("must not be only dots")
    return value
