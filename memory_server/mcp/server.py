"""The MCP server: the memory tools and a profile resource per user, over any transport.

`create_server` takes how to reach the memory and how to identify callers, and hands both to the tools through
the server's lifespan: the HTTP app passes its own service (`/mcp`), `memory-server mcp` an opened data
directory or a client of a running server.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import ValidationError

from memory_server import __version__
from memory_server.errors import InvalidInput, ServiceError
from memory_server.mcp import tools
from memory_server.mcp.access import Identify
from memory_server.mcp.errors import invalid_input, tool_error
from memory_server.mcp.memory import Memory


@dataclass(frozen=True)
class McpState:
    """What every tool call reaches through the lifespan context."""

    memory: Memory
    identify: Identify


class MemoryMCP(MCPServer[McpState]):
    """MCPServer whose tool errors read like the HTTP API's and whose tools reject arguments they do not take."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._arguments: dict[str, set[str]] = {}
        super().__init__(*args, **kwargs)

    def add_tool(self, fn: Callable[..., Any], name: str | None = None, **options: Any) -> None:
        super().add_tool(fn, name=name, **options)
        context = find_context_parameter(fn)
        self._arguments[name or fn.__name__] = {p for p in inspect.signature(fn).parameters if p != context}

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[McpState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        unknown = sorted(set(arguments) - self._arguments.get(name, set(arguments)))
        if unknown:
            return tool_error(InvalidInput(f"{unknown[0]}: unknown argument", field=unknown[0]))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ServiceError):
                return tool_error(cause)
            if isinstance(cause, ValidationError):  # bad arguments, or settings the service validates
                return tool_error(invalid_input(cause.errors()))
            raise


def create_server(state: Callable[[], McpState], *, user_id: str | None = None) -> MemoryMCP:
    """A server whose lifespan calls `state()` for the memory and the caller identification.

    `user_id` names the one user the server serves, if any, in the instructions a model reads.
    """

    @asynccontextmanager
    async def lifespan(_: MCPServer[McpState]) -> AsyncIterator[McpState]:
        yield state()

    server = MemoryMCP(
        "memory-server",
        title="Memory",
        version=__version__,
        instructions=_instructions(user_id),
        lifespan=lifespan,
        log_level="WARNING",
    )
    tools.register(server)

    @server.resource(
        "memory://profile/{user_id}",
        name="profile",
        title="User profile",
        description="Everything remembered about one user: static and dynamic facts, as JSON.",
        mime_type="application/json",
    )
    async def profile(user_id: str, ctx: Context) -> str:
        try:
            return (await tools.get_profile(ctx, user_id=user_id)).model_dump_json(exclude_none=True)
        except ServiceError as exc:
            raise ResourceError(exc.message) from None

    return server


def _instructions(user_id: str | None) -> str:
    who = f"the user {user_id!r}" if user_id else "each user (name them with user_id)"
    return (
        f"Long-term memory about {who}, kept across conversations. At the start of a conversation call "
        "get_profile (with the user's first message as query). When the user shares something about "
        "themselves worth keeping (job, home, preferences, plans, people), call remember. Before answering "
        "something that depends on their situation, call recall. When they ask to forget something, call forget."
    )
