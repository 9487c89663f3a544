"""The 3.x SDK generation's routes: `/v3/documents` (add, get, list, delete, bulk delete), `POST /v4/search` and
`/v4/memories` (forget, update).

A container tag is a user. A document is one published request, named by its request id: ids are unique in a
tenant, so a document is found without its container, and another tenant's id is not found. A `customId` is our
session, as the 5.x `id` is. A memory is a fact; updating one supersedes it with a new version.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from adapters.supermemory import common
from adapters.supermemory.common import SmIn, SupermemoryRoute, Threshold, iso, unsupported
from memory_server.api.deps import CallerScope, Service
from memory_server.errors import InvalidInput, NotFound, ServiceError
from memory_server.models import Change, Fact
from memory_server.published import Publication
from memory_server.schemas import Attributes, Identifier, SearchIn, Text, Timestamp
from memory_server.service import MemoryService

router = APIRouter(route_class=SupermemoryRoute, tags=["supermemory"])

MAX_BULK = 100  # their limit on ids (and, here, container tags) per bulk delete
Tags = Annotated[list[Identifier], Field(max_length=MAX_BULK)]
DocumentId = Annotated[str, Field(min_length=1, max_length=256)]
Reason = Annotated[str, Field(max_length=1000)]
_MODES: dict[str, list[Literal["facts", "episodes"]]] = {
    "memories": ["facts"],
    "hybrid": ["facts", "episodes"],
    "documents": ["episodes"],
}


class DocumentV3In(SmIn):
    content: Text
    containerTag: Identifier | None = None
    containerTags: Tags | None = None
    customId: Identifier | None = None
    entityContext: Annotated[str, Field(max_length=1500)] | None = None  # guidance only: accepted, not used
    metadata: Attributes | None = None


class ListV3In(SmIn):
    containerTags: Tags | None = None
    filters: dict[str, Any] | str | None = None
    includeContent: bool = False
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    order: Literal["asc", "desc"] = "desc"
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    sort: Literal["createdAt", "updatedAt"] = "createdAt"


class BulkDeleteIn(SmIn):
    ids: Annotated[list[DocumentId], Field(max_length=MAX_BULK)] | None = None
    containerTags: Tags | None = None


class SearchInclude(SmIn):
    """Supporting context to attach; none is attached here, and the results stay valid without it (forgotten
    memories, which would change the results, are refused)."""

    chunks: bool | None = None
    documents: bool | None = None
    forgottenMemories: bool | None = None
    relatedMemories: bool | None = None
    summaries: bool | None = None


class SearchV4In(SmIn):
    q: Text
    containerTag: Identifier | None = None
    filters: dict[str, Any] | str | None = None
    include: SearchInclude | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    rerank: bool | None = None  # our ranking is already final
    rewriteQuery: bool | None = None
    searchMode: Literal["memories", "hybrid", "documents"] | None = None
    threshold: Threshold | None = None


class MemoryRefIn(SmIn):
    """A memory of a container, named by its id or by what it says."""

    containerTag: Identifier
    id: DocumentId | None = None
    content: Text | None = None


class ForgetV4In(MemoryRefIn):
    reason: Reason | None = None  # the change log records who forgot it, not why


class TemporalContextIn(SmIn):
    documentDate: Annotated[str, Field(max_length=100)] | None = None
    eventDate: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)] | None = None


class UpdateMemoryIn(MemoryRefIn):
    newContent: Text
    forgetAfter: Timestamp | None = None
    forgetReason: Reason | None = None
    metadata: Attributes | None = None
    temporalContext: TemporalContextIn | None = None


def _container(tag: str | None, tags: list[str] | None) -> str:
    """The one user a document belongs to, named as `containerTag` or as the single tag of `containerTags`."""
    named = list(dict.fromkeys(([tag] if tag else []) + (tags or [])))
    if not named:
        raise InvalidInput("containerTag: required (the user the document belongs to)", field="containerTag")
    if len(named) > 1:
        raise unsupported("containerTags", "a document in more than one container")
    return named[0]


def _no_filters(filters: object) -> None:
    if filters:
        raise unsupported("filters", "filtering by metadata")


def _document(pub: Publication, content: str | None) -> dict[str, Any]:
    """A published request as a 3.x document (a `documents.list` item; `documents.get` adds a few fields)."""
    created, updated = common.document_times([pub])
    return {
        "id": pub.job.request_id,
        "customId": pub.job.session_id,
        "containerTags": [pub.job.user_id],
        "connectionId": None,
        "content": content,
        "metadata": pub.attributes,
        "status": common.request_status(pub.job.status),
        "type": "text",
        "title": None,
        "summary": None,
        "createdAt": created,
        "updatedAt": updated,
    }


async def _find(service: MemoryService, scope: CallerScope, doc_id: str, *, with_contents: bool = False) -> Publication:
    found = await service.published.find(scope, doc_id, with_contents=with_contents)
    if found is None:
        raise NotFound(f"id: no document {doc_id}", field="id")
    return found


@router.post("/v3/documents")
async def add(body: DocumentV3In, service: Service, scope: CallerScope) -> JSONResponse:
    """Publish a document into its container; answers `{id, status}`, the id being the request's."""
    user = _container(body.containerTag, body.containerTags)
    job = await common.publish(service, scope, user, body.content, document_id=body.customId, metadata=body.metadata)
    return JSONResponse({"id": job.request_id, "status": common.request_status(job.status)})


@router.post("/v3/documents/list")
async def list_documents(body: ListV3In, service: Service, scope: CallerScope) -> JSONResponse:
    """One page of the containers' documents, newest first unless asked otherwise."""
    _no_filters(body.filters)
    if not body.containerTags:
        raise InvalidInput("containerTags: name the containers to list", field="containerTags")
    pubs = [p for tag in dict.fromkeys(body.containerTags) for p in await service.published.of_user(scope, tag)]
    key = "created_at" if body.sort == "createdAt" else "updated_at"
    pubs.sort(key=lambda p: getattr(p.job, key), reverse=body.order == "desc")
    shown = pubs[(body.page - 1) * body.limit : body.page * body.limit]
    if body.includeContent:
        by_user: dict[str, list[str]] = {}
        for p in shown:
            by_user.setdefault(p.job.user_id, []).append(p.job.request_id)
        filled = {
            p.job.request_id: p
            for user, ids in by_user.items()
            for p in await service.published.of_user(scope, user, ids, with_contents=True)
        }
        shown = [filled[p.job.request_id] for p in shown]
    items = [_document(p, common.document_content([p]) if body.includeContent else None) for p in shown]
    return JSONResponse({"memories": items, "pagination": common.pagination(body.page, body.limit, len(pubs))})


@router.delete("/v3/documents/bulk")
async def delete_bulk(body: BulkDeleteIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Delete documents by id, and every document of the containers named; their messages and facts go with them.
    Ids that are not documents of this tenant are reported in `errors`."""
    if not body.ids and not body.containerTags:
        raise InvalidInput("ids: give ids or containerTags", field="ids")
    deleted, errors = 0, []
    for doc_id in dict.fromkeys(body.ids or []):
        found = await service.published.find(scope, doc_id)
        if found is None:
            errors.append({"id": doc_id, "error": "document not found"})
            continue
        await service.published.retract(scope, found.job.user_id, [doc_id])
        deleted += 1
    for tag in dict.fromkeys(body.containerTags or []):
        ids = [p.job.request_id for p in await service.published.of_user(scope, tag)]
        if ids:
            deleted += len((await service.published.retract(scope, tag, ids)).request_ids)
    answer: dict[str, Any] = {"success": True, "deletedCount": deleted}
    if body.ids is not None:
        answer["errors"] = errors
    if body.containerTags is not None:
        answer["containerTags"] = list(dict.fromkeys(body.containerTags))
    return JSONResponse(answer)


@router.get("/v3/documents/{id}")
async def get_document(id: str, service: Service, scope: CallerScope) -> JSONResponse:
    """A document with its content, metadata and status (`done` once its facts are extracted)."""
    pub = await _find(service, scope, id, with_contents=True)
    extra = {"raw": None, "source": pub.job.source, "url": None, "ogImage": None}
    return JSONResponse({**_document(pub, common.document_content([pub])), **extra})


@router.delete("/v3/documents/{id}", status_code=204)
async def delete_document(id: str, service: Service, scope: CallerScope) -> Response:
    """Delete a document: the messages it stored and the facts it produced go with it."""
    pub = await _find(service, scope, id)
    await service.published.retract(scope, pub.job.user_id, [pub.job.request_id])
    return Response(status_code=204)


@router.post("/v4/search")
async def search(body: SearchV4In, service: Service, scope: CallerScope) -> JSONResponse:
    """A container's memories (facts), chunks (stored messages) or both, ranked; `similarity` is our 0..1 score."""
    _no_filters(body.filters)
    if body.containerTag is None:
        raise InvalidInput("containerTag: required (whose memories to search)", field="containerTag")
    if body.include and body.include.forgottenMemories:
        raise unsupported("include", "searching forgotten memories")
    found = await service.search(
        scope,
        SearchIn(
            user_id=body.containerTag,
            query=body.q,
            threshold=body.threshold,
            top_k=body.limit,
            types=_MODES[body.searchMode or "memories"],
        ),
    )
    results = [common.v4_result(h) for h in found.results]
    return JSONResponse({"results": results, "timing": found.timing, "total": found.total})


async def _memory(service: MemoryService, scope: CallerScope, ref: MemoryRefIn) -> Fact:
    """The container's live memory that `id` or `content` names."""
    if (ref.id is None) == (ref.content is None):
        raise InvalidInput("id: give the memory's id or its content, one of the two", field="id")
    if ref.content is not None:
        return await service.live_fact_saying(scope, ref.containerTag, ref.content)
    try:
        fact = await service.fact(scope, ref.id)
    except NotFound:
        fact = None
    if fact is None or fact.user_id != ref.containerTag or fact.status != "active":
        raise NotFound(f"id: no live memory {ref.id} in container {ref.containerTag}", field="id")
    return fact


@router.delete("/v4/memories")
async def forget(body: ForgetV4In, service: Service, scope: CallerScope) -> JSONResponse:
    """Forget one memory (the fact is deleted; the messages it came from stay)."""
    fact = await _memory(service, scope, body)
    await service.delete_fact(scope, fact.id, body.containerTag)
    return JSONResponse({"id": fact.id, "forgotten": True})


def _attributes(fact: Fact, body: UpdateMemoryIn) -> dict[str, Any] | None:
    """`metadata` replaces the memory's (omitted: inherited); `temporalContext` is kept in it (omitted: the
    previous version's is kept)."""
    if body.metadata is None and body.temporalContext is None:
        return None
    base = fact.attributes if body.metadata is None else body.metadata
    if body.temporalContext is not None:
        return {**base, "temporalContext": body.temporalContext.model_dump(exclude_none=True)}
    kept = fact.attributes.get("temporalContext")
    return base if kept is None else {**base, "temporalContext": kept}


def _versions(history: list[Change]) -> list[str]:
    """The facts of a version chain, oldest first: each appears first in the change log when it is written."""
    return list(dict.fromkeys(c.fact_id for c in history if c.fact_id))


@router.patch("/v4/memories")
async def update_memory(body: UpdateMemoryIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Supersede a memory with a new version that says `newContent`; answers the new version and its place in the
    chain."""
    if body.forgetAfter is not None:
        raise unsupported("forgetAfter", "scheduling a memory to be forgotten")
    if body.forgetReason is not None:
        raise unsupported("forgetReason", "scheduling a memory to be forgotten")
    fact = await _memory(service, scope, body)
    try:
        new = await service.revise_fact(scope, fact.id, body.newContent, _attributes(fact, body))
    except ServiceError as exc:
        if exc.field != "text":  # our name for the new text
            raise
        raise type(exc)(exc.message.replace("text:", "newContent:", 1), field="newContent") from None
    versions = _versions(await service.fact_history(scope, new.id))
    place = versions.index(new.id)
    return JSONResponse(
        {
            "id": new.id,
            "memory": new.content,
            "createdAt": iso(new.created_at),
            "forgetAfter": iso(new.expires_at),
            "forgetReason": None,
            "parentMemoryId": versions[place - 1] if place else None,
            "rootMemoryId": versions[0],
            "version": place + 1,
        }
    )
