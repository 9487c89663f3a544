"""Operators: extraction config, change log, keys, projects, purging a user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict

from memory_server.api.deps import CallerScope, Service
from memory_server.models import ApiKey, Change, ConfigVersion, NewApiKey, Page, Project, Role
from memory_server.schemas import ChangelogFilter, Count, Identifier, Label, ProjectId

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/config", response_model=ConfigVersion)
async def get_config(service: Service, scope: CallerScope) -> ConfigVersion:
    """The current extraction config and its version."""
    return await service.config(scope)


@router.put("/config", response_model=ConfigVersion)
async def put_config(
    changes: Annotated[dict[str, Any], Body(examples=[{"dynamic_ttl_seconds": 86400}])],
    service: Service,
    scope: CallerScope,
) -> ConfigVersion:
    """Change extraction settings; settings left out keep their value. Each change is a new version."""
    return await service.update_config(scope, changes)


@router.get("/config/history", response_model=list[ConfigVersion])
async def config_history(
    service: Service, scope: CallerScope, limit: Annotated[Count, Query()] = 50
) -> list[ConfigVersion]:
    return await service.config_history(scope, limit)


@router.get("/changelog", response_model=Page[Change])
async def changelog(flt: Annotated[ChangelogFilter, Query()], service: Service, scope: CallerScope) -> Page[Change]:
    """Every add, update, supersede, expire, delete and purge, newest first."""
    return await service.changes(scope, flt)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: Label | None = None
    project_id: ProjectId | None = None


@router.post("/keys", response_model=NewApiKey, status_code=201)
async def create_key(body: KeyIn, service: Service, scope: CallerScope) -> NewApiKey:
    """Create an API key for your tenant (limited to one project with `project_id`). The secret (`key`) is shown
    only in this answer."""
    return await service.access.create_key(scope, body.role, body.name, body.project_id)


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Label


@router.post("/projects", response_model=Project, status_code=201)
async def create_project(body: ProjectIn, service: Service, scope: CallerScope) -> Project:
    """A new memory space of your tenant; name it in calls with the `X-Project-Id` header."""
    return await service.projects.create(scope, body.name)


@router.get("/projects", response_model=list[Project])
async def list_projects(service: Service, scope: CallerScope) -> list[Project]:
    """Your tenant's projects; project 1 is the default one, where calls without `X-Project-Id` go."""
    return await service.projects.listed(scope)


@router.get("/keys", response_model=list[ApiKey])
async def list_keys(service: Service, scope: CallerScope) -> list[ApiKey]:
    """Your tenant's keys (never their secrets)."""
    return await service.access.list_keys(scope)


@router.delete("/keys/{key_id}", response_model=ApiKey)
async def revoke_key(key_id: Identifier, service: Service, scope: CallerScope) -> ApiKey:
    """Revoke a key of your tenant; it stops working at once."""
    return await service.access.revoke_key(scope, key_id)


@router.delete("/users/{user_id:anytext}")
async def purge_user(user_id: Identifier, service: Service, scope: CallerScope) -> dict[str, Any]:
    """Remove everything about a user: messages, facts, vectors, jobs, and the contents of their change log."""
    counts = await service.purge_user(scope, user_id)
    return {"user_id": user_id, "purged": counts}
