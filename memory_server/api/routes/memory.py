"""Reading and deleting a user's memory: profile, search, facts, episodes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from memory_server.api.deps import CallerScope, Service
from memory_server.models import Episode, Fact, Page, ProfileResponse, SearchResults
from memory_server.schemas import (
    DeleteByQueryIn,
    EpisodeFilter,
    FactFilter,
    FactIn,
    Identifier,
    MessageId,
    ProfileIn,
    SearchIn,
)

router = APIRouter(prefix="/v1", tags=["memory"])


def _json(content: bytes | str, request_id: str) -> Response:
    """Send JSON serialised in Rust (pydantic-core), skipping FastAPI's second validation: this is the per-turn hot
    path. The `X-Request-Id` header names the answer's entry in the retrieval log."""
    return Response(content, media_type="application/json", headers={"X-Request-Id": request_id})


@router.post("/profile", response_model=ProfileResponse)
async def profile(body: ProfileIn, service: Service, scope: CallerScope) -> Response:
    """The user's static and dynamic facts, most useful first; with `q`, also the facts and episodes (stored
    messages) matching it, in `searchResults`. `max_tokens` bounds facts and episodes together."""
    request_id = service.retrievals.new_request_id()
    return _json(await service.profile_json(scope, body, request_id), request_id)


@router.post("/search", response_model=SearchResults)
async def search(body: SearchIn, service: Service, scope: CallerScope) -> Response:
    """Hybrid search (meaning + exact words) over one user's live facts and episodes (stored messages), ranked
    together on one 0..1 score; `types` picks facts, episodes or both, `roles` whose messages are searched."""
    request_id = service.retrievals.new_request_id()
    return _json((await service.search(scope, body, request_id)).model_dump_json(), request_id)


@router.post("/facts", response_model=Fact, status_code=201)
async def add_fact(body: FactIn, service: Service, scope: CallerScope, response: Response) -> Fact:
    """Store one fact stated explicitly. 201 when new, 200 with the existing fact when already known."""
    stated = await service.add_fact(scope, body)
    response.headers["X-Request-Id"] = stated.request_id
    if not stated.created:
        response.status_code = 200
    return stated.fact


@router.get("/users/{user_id:anytext}/facts", response_model=Page[Fact])
async def list_facts(
    user_id: Identifier, flt: Annotated[FactFilter, Query()], service: Service, scope: CallerScope
) -> Page[Fact]:
    """A user's facts, newest first; `status=active` (default) hides expired, superseded and deleted ones."""
    return await service.facts(scope, user_id, flt)


@router.get("/facts/{fact_id}", response_model=Fact)
async def get_fact(fact_id: Identifier, service: Service, scope: CallerScope) -> Fact:
    return await service.fact(scope, fact_id)


@router.delete("/facts/{fact_id}", response_model=Fact)
async def delete_fact(
    fact_id: Identifier,
    service: Service,
    scope: CallerScope,
    response: Response,
    user_id: Annotated[Identifier | None, Query(description="Delete only if the fact is this user's.")] = None,
    with_sources: Annotated[
        bool, Query(description="Also delete the messages (episodes) the fact was extracted from.")
    ] = False,
) -> Fact:
    """Delete one fact (kept in the change log, gone from profiles, search and the vector index). With
    `with_sources`, its source messages are deleted too; their ids are in `X-Deleted-Episodes`."""
    fact, gone = await service.delete_fact(scope, fact_id, user_id, with_sources=with_sources)
    if with_sources:
        response.headers["X-Deleted-Episodes"] = ",".join(str(e.message_id) for e in gone)
    return fact


@router.post("/facts/delete")
async def delete_by_query(body: DeleteByQueryIn, service: Service, scope: CallerScope) -> dict[str, object]:
    """Delete the user's facts and episodes whose meaning matches `query` at or above `threshold`; returns
    them (`deleted`: facts, `episodes`: episodes; `count`: both)."""
    facts, episodes = await service.delete_by_query(scope, body)
    return {
        "deleted": [f.model_dump(mode="json") for f in facts],
        "episodes": [e.model_dump(mode="json") for e in episodes],
        "count": len(facts) + len(episodes),
    }


@router.get("/users/{user_id:anytext}/episodes", response_model=Page[Episode])
async def list_episodes(
    user_id: Identifier, flt: Annotated[EpisodeFilter, Query()], service: Service, scope: CallerScope
) -> Page[Episode]:
    """A user's episodes (stored messages that search can find), newest first."""
    return await service.episodes(scope, user_id, flt)


@router.get("/episodes/{message_id}", response_model=Episode)
async def get_episode(message_id: MessageId, service: Service, scope: CallerScope) -> Episode:
    return await service.episode(scope, message_id)


@router.delete("/episodes/{message_id}", response_model=Episode)
async def delete_episode(
    message_id: MessageId,
    service: Service,
    scope: CallerScope,
    user_id: Annotated[Identifier | None, Query(description="Delete only if the episode is this user's.")] = None,
) -> Episode:
    """Delete one episode: the message is removed (the change log keeps where it was, not what it said)."""
    return await service.delete_episode(scope, message_id, user_id)
