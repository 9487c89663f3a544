"""Keys are checked before an MCP session exists: without a valid key (where keys are required) a client
cannot initialise, list tools or read resources, and gets the same 401 as the HTTP API. Tool calls are
counted against the key's rate limit when each one identifies its caller, not here.

A valid key with a wrong `X-Project-Id` opens its session: MCP clients do not show the body of a refused
initialise (a 404 reads as "method not found"), while every tool call then fails with the reason as its text."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from memory_server.access import api_key
from memory_server.api.deps import client_address
from memory_server.api.errors import service_error_response
from memory_server.errors import ServiceError
from memory_server.projects import PROJECT_HEADER


class McpKeyGate:
    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == self.path:
            service = scope["app"].state.service
            try:
                headers = Headers(scope=scope)
                await service.access.authenticate(
                    api_key(headers), client_address(scope), counted=False, project=headers.get("x-project-id")
                )
            except ServiceError as exc:
                if exc.field != PROJECT_HEADER:
                    await service_error_response(exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
