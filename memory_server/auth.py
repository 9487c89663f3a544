"""How a caller shows its API key over the HTTP-based doors (the HTTP API and MCP over HTTP alike).

The service decides what a key may do (`MemoryService.authenticate`); this only reads it from the headers,
in one place, so both doors accept exactly the same forms.
"""

from __future__ import annotations

from collections.abc import Mapping


def api_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None
