"""mem0 platform compatibility: `mem0ai`'s `MemoryClient(api_key=..., host=<this server>)` works unchanged.

Keys are ours, sent as `Authorization: Token <key>`. A memory is a fact; `add` publishes the messages as a
request (queued, as on mem0's platform, or waited for with `async_mode=False`); `update` supersedes the
fact; `history` reads the change log of the fact's versions; `delete_all(user_id=...)` deletes the user's
facts and keeps their messages (mem0 deletes memories; `DELETE /v1/users/{id}` purges everything).
Errors carry mem0's `detail` beside our `error` object, so the client's exceptions read our message.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from adapters.mem0 import shapes
from memory_server.api.deps import CallerScope, Service
from memory_server.api.errors import rendering_route, service_error_response
from memory_server.context import Scope
from memory_server.errors import InvalidInput, ModelUnavailable, NotFound, ServiceError
from memory_server.models import Fact
from memory_server.schemas import FactFilter, Identifier, InteractionIn
from memory_server.schemas import SearchIn as OurSearch
from memory_server.service import MemoryService


def mem0_error(exc: ServiceError) -> Response:
    """Our error, with mem0's `detail` (what its client puts in its exceptions) beside it."""
    ours = service_error_response(exc)
    body = {"detail": exc.message, **json.loads(bytes(ours.body))}
    headers = {k: v for k, v in ours.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=ours.status_code, headers=headers)


#: Every error of these routes (validation and auth included) in mem0's shape.
router = APIRouter(tags=["mem0"], route_class=rendering_route(mem0_error))


@router.get("/v1/ping/")
async def ping(scope: CallerScope) -> dict[str, Any]:
    """The client's key check when it is constructed. It refuses to start without an org and a project: both
    are the key's tenant, the unit that keeps memories apart here as a project does on mem0."""
    return {"status": "ok", "org_id": scope.tenant_id, "project_id": scope.tenant_id, "user_email": None}


@router.post("/v3/memories/add/")
async def add(body: shapes.AddIn, service: Service, scope: CallerScope) -> dict[str, Any]:
    """Publish the messages as one request; queued (PENDING + event_id) unless `async_mode` is false."""
    shapes.check_entities(body)
    if not body.infer:
        raise InvalidInput("infer: false is not supported; memories are extracted from the messages", field="infer")
    at = shapes.message_time(body)
    interaction = InteractionIn.model_validate(
        {
            "user_id": shapes.user_of(body.filters, body.user_id),
            "messages": [{"role": m.role, "content": m.content, "created_at": at} for m in body.messages],
            "session_id": body.run_id,
            "attributes": body.metadata or {},
            "wait": not body.async_mode,
        }
    )
    job, _ = await service.ingest(scope, interaction)
    if job.skipped:  # nothing stored, so no event to poll: say so at once, whatever the mode
        return {"results": [], "skipped": job.skipped}
    if job.status == "failed" and not body.async_mode:
        raise ModelUnavailable(f"the memories could not be extracted: {job.error} (request {job.request_id})")
    return shapes.processed(job) if job.status == "done" and not body.async_mode else shapes.queued(job)


@router.post("/v3/memories/search/")
async def search(body: shapes.SearchIn, service: Service, scope: CallerScope) -> dict[str, Any]:
    """The user's facts ranked by the query (scores 0..1, `threshold` filters them)."""
    user_id = shapes.user_of(body.filters)
    ask = OurSearch(user_id=user_id, query=body.query, threshold=body.threshold, top_k=body.top_k, types=["facts"])
    found = await service.search(scope, ask)
    return {"results": [shapes.memory(h, user_id) for h in found.results]}


@router.post("/v3/memories/")
async def list_memories(
    body: shapes.ListIn,
    request: Request,
    service: Service,
    scope: CallerScope,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The user's live memories, newest first, paginated the way mem0 does (count, next, previous)."""
    facts = await _live(service, scope, shapes.user_of(body.filters), request.app.state.settings.limits.max_page_size)
    start = (page - 1) * page_size
    url = request.url
    return {
        "count": len(facts),
        "next": str(url.include_query_params(page=page + 1, page_size=page_size))
        if start + page_size < len(facts)
        else None,
        "previous": str(url.include_query_params(page=page - 1, page_size=page_size)) if page > 1 else None,
        "results": [shapes.memory(f) for f in facts[start : start + page_size]],
    }


async def _live(service: MemoryService, scope: Scope, user_id: str, size: int) -> list[Fact]:
    facts: list[Fact] = []
    cursor = None
    while True:
        page = await service.facts(scope, user_id, FactFilter(limit=size, cursor=cursor))
        facts += page.items
        if page.next_cursor is None:
            return facts
        cursor = page.next_cursor


async def _existing(service: MemoryService, scope: Scope, memory_id: str) -> Fact:
    """A fact that was not deleted (a deleted memory is gone, as on mem0)."""
    fact = await service.fact(scope, memory_id)
    if fact.status == "deleted":
        raise NotFound(f"memory_id: no memory {memory_id}", field="memory_id")
    return fact


@router.get("/v1/memories/{memory_id}/")
async def get_memory(memory_id: Identifier, service: Service, scope: CallerScope) -> dict[str, Any]:
    return shapes.memory(await _existing(service, scope, memory_id))


@router.put("/v1/memories/{memory_id}/")
async def update_memory(
    memory_id: Identifier, body: shapes.UpdateIn, service: Service, scope: CallerScope
) -> dict[str, Any]:
    """New text (and/or metadata) supersedes the fact: the answer is the new version, with its new id."""
    for name in ("timestamp", "expiration_date"):
        if getattr(body, name) is not None:
            raise InvalidInput(f"{name}: cannot be changed here; update text or metadata", field=name)
    if body.text is None and body.metadata is None:
        raise InvalidInput("text: give text or metadata to update", field="text")
    await _existing(service, scope, memory_id)
    return shapes.memory(await service.revise_fact(scope, memory_id, body.text, body.metadata))


@router.delete("/v1/memories/{memory_id}/")
async def delete_memory(
    memory_id: Identifier, service: Service, scope: CallerScope, delete_linked: bool = False
) -> dict[str, str]:
    """Delete one memory. The versions it superseded are never live again, so `delete_linked` changes nothing."""
    await _existing(service, scope, memory_id)
    await service.delete_fact(scope, memory_id)
    return {"message": "Memory deleted successfully!"}


@router.delete("/v1/memories/")
async def delete_all(
    service: Service,
    scope: CallerScope,
    user_id: Identifier | None = None,
    agent_id: str | None = None,
    app_id: str | None = None,
    run_id: str | None = None,
    filters: str | None = None,
) -> dict[str, str]:
    """Delete every memory (fact) of one user; their messages stay until the user is purged."""
    if filters is not None:  # mem0ai 2.2 sends `filters=` as a Python repr in the query string
        raise InvalidInput("filters: not readable in a query string; call delete_all(user_id=...)", field="filters")
    for name, value in (("agent_id", agent_id), ("app_id", app_id), ("run_id", run_id)):
        if value is not None:
            raise InvalidInput(f"{name}: not supported; delete by user_id", field=name)
    if user_id is None:
        raise InvalidInput("user_id: field required (whose memories to delete)", field="user_id")
    await service.delete_user_facts(scope, user_id)
    return {"message": "Memories deleted successfully!"}


@router.get("/v1/memories/{memory_id}/history/")
async def history(memory_id: Identifier, service: Service, scope: CallerScope) -> list[dict[str, Any]]:
    """Every version of the memory, from the change log: added, updated (superseded), deleted."""
    return shapes.history(await service.fact_history(scope, memory_id))
