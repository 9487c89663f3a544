"""Users: records with attributes and aggregates, lists filtered by behaviour, timelines of signals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from memory_server.api.deps import CallerScope, Service
from memory_server.models import Timeline, UserList, UserRecord
from memory_server.schemas import Identifier, TimelineFilter, UserAttributesIn, UserFilter

router = APIRouter(prefix="/v1", tags=["users"])
ATTRIBUTE_PREFIX = "attr."


@router.get("/users", response_model=UserList)
async def list_users(request: Request, service: Service, scope: CallerScope) -> UserList:
    """Users, most recently seen first, filtered by churn risk, sentiment trend, analysed messages and
    attributes (`attr.plan=pro`); `total` counts every match."""
    params = request.query_params
    plain = {k: v for k, v in params.items() if not k.startswith(ATTRIBUTE_PREFIX)}
    attributes = {k.removeprefix(ATTRIBUTE_PREFIX): v for k, v in params.items() if k.startswith(ATTRIBUTE_PREFIX)}
    return await service.users.list(scope, UserFilter.model_validate(plain), attributes)


@router.get("/users/{user_id:anytext}/timeline", response_model=Timeline)
async def timeline(
    user_id: Identifier, flt: Annotated[TimelineFilter, Query()], service: Service, scope: CallerScope
) -> Timeline:
    """The user's analysed messages with their sentiment, topics and intentions, newest first."""
    return await service.users.timeline(scope, user_id, flt)


@router.put("/users/{user_id:anytext}", response_model=UserRecord)
async def set_attributes(
    user_id: Identifier, body: UserAttributesIn, service: Service, scope: CallerScope
) -> UserRecord:
    """Replace the user's attributes (editor)."""
    return await service.users.set_attributes(scope, user_id, body)


@router.get("/users/{user_id:anytext}", response_model=UserRecord)
async def get_user(user_id: Identifier, service: Service, scope: CallerScope) -> UserRecord:
    """The user's record: attributes, first and last seen, message counts and aggregates."""
    return await service.users.get(scope, user_id)
