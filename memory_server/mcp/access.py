"""Who is calling through MCP and whose memory they may reach, decided here and nowhere else in the MCP door.

Roles (what a caller may do) are the service's to check, from the scope's role, as for every door. What this
module adds is the user binding: a connection that serves one user (stdio with `--user`) acts for that user only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context

from memory_server.access import api_key
from memory_server.context import Scope
from memory_server.errors import Forbidden, InvalidInput

if TYPE_CHECKING:
    from memory_server.service import MemoryService


@dataclass(frozen=True)
class Caller:
    """The scope a tool call acts in and, when the connection serves one user, that user."""

    scope: Scope
    user_id: str | None = None

    def user(self, requested: str | None) -> str:
        """The user a call acts for: the connection's own user, or the one named when the connection has none."""
        if self.user_id is None:
            if requested is None:
                raise InvalidInput("user_id: field required (name the user whose memory this is)", field="user_id")
            return requested
        if requested is not None and requested != self.user_id:
            raise Forbidden(
                f"user_id: this connection serves user {self.user_id!r} only; leave user_id out", field="user_id"
            )
        return self.user_id


Identify = Callable[[Context], Awaitable[Caller]]


def fixed(caller: Caller) -> Identify:
    """Every call comes from the same caller (stdio: one process, one agent, one user)."""

    async def identify(_: Context) -> Caller:
        return caller

    return identify


def by_api_key(service: MemoryService) -> Identify:
    """Streamable HTTP: the API key in each request's headers, checked by the service as for the HTTP API."""

    async def identify(ctx: Context) -> Caller:
        request = ctx.request_context.request
        client = getattr(request, "client", None)
        headers = ctx.headers or {}
        scope = await service.access.authenticate(
            api_key(headers), client.host if client else None, project=headers.get("x-project-id")
        )
        return Caller(replace(scope, actor=f"mcp/{scope.actor}"))

    return identify
