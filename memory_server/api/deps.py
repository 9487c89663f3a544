"""What every route needs: the service and the scope of the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import TypeAdapter, ValidationError

from memory_server.context import Scope
from memory_server.errors import InvalidInput
from memory_server.schemas import Identifier
from memory_server.service import MemoryService

_IDENTIFIER = TypeAdapter(Identifier)


def service(request: Request) -> MemoryService:
    return request.app.state.service


def scope(request: Request) -> Scope:
    """Without API keys the server serves one tenant (see settings.tenant)."""
    return Scope(tenant_id=request.app.state.settings.tenant, actor="api")


def identifier(value: str, field: str) -> str:
    """Validate an id that arrived in the path the way body ids are validated."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"{field}: {exc.errors()[0]['msg']}", field=field) from None


Service = Annotated[MemoryService, Depends(service)]
CallerScope = Annotated[Scope, Depends(scope)]
