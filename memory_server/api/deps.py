"""What every route needs: the service and the scope of the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope as AsgiScope

from memory_server.access import api_key
from memory_server.context import Scope
from memory_server.service import MemoryService


async def service(request: Request) -> MemoryService:
    """Async, so FastAPI does not hop to its thread pool to call it on every request."""
    return request.app.state.service


def client_address(scope: AsgiScope) -> str | None:
    """The peer's address, which failed authentications are limited by."""
    client = scope.get("client")
    return client[0] if client else None


async def scope(request: Request) -> Scope:
    """Who is calling: the tenant, project and role of their API key (the local tenant when no keys exist)."""
    return await request.app.state.service.access.authenticate(
        api_key(request.headers), client_address(request.scope), project=request.headers.get("x-project-id")
    )


Service = Annotated[MemoryService, Depends(service)]
CallerScope = Annotated[Scope, Depends(scope)]
