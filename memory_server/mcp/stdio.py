"""`memory-server mcp`: the tools over stdin/stdout for one agent (Claude Desktop, Claude Code, Cursor...).

The process either talks to a running server over HTTP (`url`), or opens the data directory itself, which
fails with a clear message when another process holds it. Stdout carries MCP messages only: the SDK points
file descriptor 1 at stderr while it serves, and anything printed while the service opens goes to stderr too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator

import httpx

from memory_server.client import AsyncMemoryClient, MemoryServerError
from memory_server.config import Settings
from memory_server.context import Scope
from memory_server.mcp.access import Caller, fixed
from memory_server.mcp.memory import Memory
from memory_server.mcp.remote import RemoteMemory
from memory_server.mcp.server import McpState, create_server
from memory_server.service import MemoryService


async def serve_stdio(
    settings: Settings, *, user_id: str | None, url: str | None, api_key: str | None, project: int | None = None
) -> None:
    """Serve until the client closes stdin. Every call acts for `user_id` when given, in project `project`."""
    async with _memory(settings, url, api_key, project) as (memory, scope):
        caller = Caller(scope, user_id)
        server = create_server(lambda: McpState(memory, fixed(caller)), user_id=user_id)
        await server.run_stdio_async()


@contextlib.asynccontextmanager
async def _memory(
    settings: Settings, url: str | None, api_key: str | None, project: int | None
) -> AsyncIterator[tuple[Memory, Scope]]:
    """The memory and the scope its calls act in; a remote server places them by the key and `X-Project-Id`."""
    scope = Scope(settings.tenant, "mcp")
    if url is not None:
        async with AsyncMemoryClient(url, api_key=api_key, project=project, timeout=30.0) as client:
            await _check_reachable(client)
            yield RemoteMemory(client), scope
        return
    async with contextlib.AsyncExitStack() as stack:
        with contextlib.redirect_stdout(sys.stderr):  # anything printed while opening must not reach the client
            service = await stack.enter_async_context(MemoryService.running(settings, listening=False))
        yield service, await service.projects.enter(scope, project, field="--project")


async def _check_reachable(client: AsyncMemoryClient) -> None:
    """Say on stderr at once when the server is not there; the tools report it again on each call."""
    try:
        await client.request("GET", "/healthz")
    except (httpx.TransportError, MemoryServerError) as exc:
        print(f"warning: memory server at {client.base_url} is not reachable yet: {exc}", file=sys.stderr)
