"""Requests (filter by status, a failed one's error, attempts and model output, retry) and API keys (admin:
create with the secret shown once, list, revoke)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, pages_of, redirect, to_last_page
from memory_server.errors import NotFound
from memory_server.models import Role
from memory_server.schemas import Identifier, Label

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 50


class RequestsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["", "queued", "running", "done", "failed"] = ""
    page: int = Field(1, ge=1, le=10_000)


@router.get("/requests")
async def requests(caller: Caller, query: Annotated[RequestsQuery, Query()]) -> Response:
    found = await caller.service.operations.requests(
        caller.scope, query.status or None, PAGE_SIZE, (query.page - 1) * PAGE_SIZE
    )
    pages = pages_of(found.total, PAGE_SIZE)
    if query.page > pages:
        return to_last_page(caller, pages)
    return caller.render("requests.html", found=found, query=query, pages=pages)


@router.get("/requests/{request_id}")
async def request(caller: Caller, request_id: Identifier) -> Response:
    """A published request's job and what it changed; a fact stated or edited directly has no job, only changes."""
    try:
        job = await caller.service.request(caller.scope, request_id)
    except NotFound:
        changes = await caller.service.request_changes(caller.scope, request_id)  # NotFound when it changed nothing
        return caller.render("request.html", request_id=request_id, job=None, changes=changes)
    return caller.render("request.html", request_id=request_id, job=job, changes=job.changes)


@router.post("/requests/{request_id}/retry")
async def retry(caller: Caller, _: Form, request_id: Identifier) -> Response:
    await caller.service.retry(caller.scope, request_id)
    return redirect(f"/requests/{request_id}")


class KeyForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    name: Label | None = None
    limited: bool = False  # to the project the console works in


@router.get("/keys")
async def keys(caller: Caller) -> Response:
    return caller.render("keys.html", keys=await caller.service.access.list_keys(caller.scope), created=None)


@router.post("/keys")
async def create_key(caller: Caller, fields: Form) -> Response:
    """The new key's secret is on this answer only (the page is never cached)."""
    body = KeyForm.model_validate(
        {**fields, "name": fields.get("name", "").strip() or None, "limited": fields.get("limited") == "on"}
    )
    project_id = caller.scope.project_id if body.limited else None
    created = await caller.service.access.create_key(caller.scope, body.role, body.name, project_id)
    listed = await caller.service.access.list_keys(caller.scope)
    return caller.render("keys.html", 201, keys=listed, created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(caller: Caller, _: Form, key_id: Identifier) -> Response:
    await caller.service.access.revoke_key(caller.scope, key_id)
    return redirect("/keys")
