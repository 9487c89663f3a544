"""The keyword index's query language: FTS5 match expressions scoped to one tenant's user."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def scope_token(tenant_id: str, user_id: str) -> str:
    """The one token that marks a tenant's user in the `scope` column; it cannot be confused with words."""
    return "u" + hashlib.sha256(f"{tenant_id}\x00{user_id}".encode()).hexdigest()[:32]


def match_expression(tenant_id: str, user_id: str, words: Iterable[str], column: str = "content") -> str | None:
    """An FTS5 query for the user's rows whose `column` holds any of the words (None: no word to look for).

    Words are passed quoted, so FTS5 operators in them are read as words; FTS5 stems them itself.
    """
    quoted = " OR ".join(f'"{w}"' for w in words if w)
    if not quoted:
        return None
    return f'scope : "{scope_token(tenant_id, user_id)}" AND {column} : ({quoted})'
