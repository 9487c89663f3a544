"""Users: records with attributes and aggregates, lists filtered by behaviour, timelines of signals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from memory_server.api.deps import CallerScope, Service
from memory_server.models import Consent, Timeline, UnifiedProfile, UserList, UserRecord
from memory_server.schemas import ConsentIn, Identifier, TimelineFilter, UserAttributesIn, UserFilter

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


@router.get("/users/{user_id:anytext}/profile", response_model=UnifiedProfile)
async def profile(
    user_id: Identifier,
    service: Service,
    scope: CallerScope,
    sections: Annotated[
        str | None, Query(max_length=2_000, description="Comma-separated section names; all when left out.")
    ] = None,
) -> UnifiedProfile:
    """The user's profile as named sections (facts, attributes, identities, interactions, aggregates, segments,
    changes, consent and plugins'); only the sections asked for are computed."""
    names = None if sections is None else [n.strip() for n in sections.split(",") if n.strip()]
    return await service.profiles.build(scope, user_id, names)


@router.get("/users/{user_id:anytext}/consent", response_model=Consent)
async def get_consent(user_id: Identifier, service: Service, scope: CallerScope) -> Consent:
    """Whether the user may be remembered (a user never marked may)."""
    return await service.consent.get(scope, user_id)


@router.put("/users/{user_id:anytext}/consent", response_model=Consent)
async def set_consent(user_id: Identifier, body: ConsentIn, service: Service, scope: CallerScope) -> Consent:
    """Mark the user (editor): with `remember: false` later publishes store and extract nothing and answer
    `skipped: "consent"`; what was remembered before stays until purged."""
    return await service.consent.set(scope, user_id, body)


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
