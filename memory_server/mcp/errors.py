"""Tool errors carry the HTTP API's messages: an `is_error` result whose text is the message and whose
structured content is the HTTP error body, `{"error": {"code", "message", "field"?}}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp_types import CallToolResult, TextContent

from memory_server.errors import ServiceError, from_validation


def invalid_input(errors: Sequence[Any]) -> ServiceError:
    """The first validation problem as the HTTP API words it (`field: problem`), from the one formatter.

    Tool arguments are a request body, so their paths get the `body` location the formatter expects (else an
    argument named like a location, `query`, would lose its name).
    """
    return from_validation([{**e, "loc": ("body", *e["loc"])} for e in errors])


def tool_error(error: ServiceError) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=error.message)],
        structured_content={"error": error.to_dict()},
        is_error=True,
    )
