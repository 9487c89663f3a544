"""The 5.x SDK's routes, `/ns/{namespace}/...`: a namespace is a user, a document a published request (its
content one user message; documents added under one caller `id` are that id's requests, our session)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from adapters.supermemory import common
from adapters.supermemory.common import SmIn, SupermemoryRoute, Threshold, iso, unsupported
from memory_server.api.deps import CallerScope, Service
from memory_server.errors import InvalidInput, NotFound, ServiceError
from memory_server.models import Fact
from memory_server.published import Publication
from memory_server.schemas import (
    Attributes,
    DeleteByQueryIn,
    FactFilter,
    Identifier,
    ProfileIn,
    SearchIn,
    Text,
    Timestamp,
)
from memory_server.service import MemoryService

router = APIRouter(prefix="/ns", route_class=SupermemoryRoute, tags=["supermemory"])

Namespace = Identifier
MAX_BATCH = 600
_TYPES: dict[str, list[Literal["facts", "episodes"]]] = {
    "hybrid": ["facts", "episodes"],
    "memories": ["facts"],
    "chunks": ["episodes"],
}


class DocumentIn(SmIn):
    content: Text
    id: Identifier | None = None
    supportingContext: Annotated[str, Field(max_length=1500)] | None = None  # guidance only: accepted, not used
    metadata: Attributes | None = None
    group: dict[str, Any] | None = None
    date: Timestamp | None = None


class AddIn(DocumentIn):
    taskType: Literal["memory"] | None = None
    dreaming: Literal["dynamic", "instant"] | None = None  # every document is processed as soon as it arrives


class BatchIn(SmIn):
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_BATCH)
    taskType: Literal["memory"] | None = None
    dreaming: Literal["dynamic", "instant"] | None = None


class IdsIn(SmIn):
    ids: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(min_length=1, max_length=1000)


class SearchNsIn(SmIn):
    query: Text
    filter: dict[str, Any] | None = None
    searchMode: Literal["hybrid", "memories", "chunks"] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    include: dict[str, bool | None] | None = None  # supporting context is not attached; results stay valid
    threshold: Threshold | None = None
    rerank: Literal["order", "aggregate"] | None = None  # our ranking is already final
    rewriteQuery: bool | None = None


class ProfileNsIn(SmIn):
    filter: dict[str, Any] | None = None
    buckets: list[str] | None = None


class ListInclude(SmIn):
    content: bool | None = None
    memoryCount: bool | None = None
    forgotten: bool | None = None


class ListIn(SmIn):
    filter: dict[str, Any] | None = None
    include: ListInclude | None = None


class ForgetMatchingIn(SmIn):
    query: Text
    dryRun: bool


def _no_filter(value: object, field: str = "filter") -> None:
    if value:
        raise unsupported(field, "filtering by metadata")


async def _documents(service: MemoryService, scope: CallerScope, namespace: str) -> dict[str, list[Publication]]:
    return common.group_documents(await service.published.of_user(scope, namespace))


async def _document(service: MemoryService, scope: CallerScope, namespace: str, doc_id: str) -> list[Publication]:
    found = common.find_document(await _documents(service, scope, namespace), doc_id)
    if found is None:
        raise NotFound(f"id: no document {doc_id} in namespace {namespace}", field="id")
    return found


async def _publish(service: MemoryService, scope: CallerScope, namespace: str, doc: DocumentIn) -> dict[str, str]:
    if doc.group:
        raise unsupported("group", "isolating context within a namespace (use a namespace of its own)")
    job = await common.publish(
        service, scope, namespace, doc.content, document_id=doc.id, metadata=doc.metadata, date=doc.date
    )
    answer = {"id": doc.id or job.request_id, "status": common.request_status(job.status)}
    return answer | ({"skipped": job.skipped} if job.skipped else {})


@router.post("/{namespace}/document")
async def add(namespace: Namespace, body: AddIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Publish a document; reusing an `id` adds to that document. Answers `{id, status}`."""
    return JSONResponse(await _publish(service, scope, namespace, body))


@router.post("/{namespace}/document/batch")
async def batch_add(namespace: Namespace, body: BatchIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Publish up to 600 documents, each on its own; one that fails is reported and does not stop the others."""
    accepted, failed = [], []
    for doc in body.documents:
        try:
            accepted.append(await _publish(service, scope, namespace, doc))
        except ServiceError as exc:
            if exc.status in (401, 403):
                raise
            failed.append({"id": doc.id or "", "status": "error", "error": exc.code, "details": exc.message})
    return JSONResponse({"results": accepted + failed, "count": len(accepted), "failed": len(failed)})


def _chunk(pub_messages: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(m.id),
            "position": position,
            "content": m.content,
            "type": "text",
            "metadata": {},
            "system": {"createdAt": iso(m.created_at)},
        }
        for position, m in pub_messages
    ]


@router.get("/{namespace}/document/{id}")
async def get_document(
    namespace: Namespace,
    id: str,
    service: Service,
    scope: CallerScope,
    include: Annotated[list[Literal["chunks", "memories"]] | None, Query()] = None,
) -> JSONResponse:
    """A document with its status (`system.status` reaches `done` once processed), content and metadata; its
    chunks (the stored messages) and memories (the live facts it produced) when included."""
    pubs = await _document(service, scope, namespace, id)
    pubs = await service.published.of_user(scope, namespace, [p.job.request_id for p in pubs], with_contents=True)
    status = common.document_status(pubs)
    created, updated = common.document_times(pubs)
    body: dict[str, Any] = {
        "id": id,
        "title": None,
        "type": "text",
        "summary": None,
        "content": common.document_content(pubs),
        "metadata": common.document_metadata(pubs),
        "system": {
            "status": status,
            "dreamingStatus": "done" if status in ("done", "failed") else "dreaming",
            "createdAt": created,
            "updatedAt": updated,
        },
    }
    if include and "chunks" in include:
        body["chunks"] = _chunk(list(enumerate(m for p in pubs for m in p.messages)))
    if include and "memories" in include:
        body["memories"] = [common.memory_of(f) for p in pubs for f in p.facts]
    return JSONResponse(body)


@router.delete("/{namespace}/document")
async def delete_documents(namespace: Namespace, body: IdsIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Delete documents: their messages and the facts they produced go with them; unknown ids are reported."""
    documents = await _documents(service, scope, namespace)
    count, errors = 0, []
    for doc_id in dict.fromkeys(body.ids):
        pubs = common.find_document(documents, doc_id)
        if pubs is None:
            errors.append({"id": doc_id, "error": "document not found"})
            continue
        await service.published.retract(scope, namespace, [p.job.request_id for p in pubs])
        count += 1
    return JSONResponse({"count": count, "errors": errors})


@router.post("/{namespace}/search")
async def search(namespace: Namespace, body: SearchNsIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Facts (`memory`) and stored messages (`chunk`) ranked together; `similarity` is our calibrated 0..1 score."""
    _no_filter(body.filter)
    found = await service.search(
        scope,
        SearchIn(
            user_id=namespace,
            query=body.query,
            threshold=body.threshold,
            top_k=body.limit,
            types=_TYPES[body.searchMode or "hybrid"],
        ),
    )
    results = [
        {
            "id": h.id,
            **common.hit_text(h),
            "metadata": h.attributes,
            "similarity": h.score,
            "isLatest": True,
            "isInference": False,
            "system": {"updatedAt": iso(h.updated_at or h.created_at), "createdAt": iso(h.created_at)},
        }
        for h in found.results
    ]
    return JSONResponse({"results": results, "searchTime": found.timing})


@router.post("/{namespace}/profile")
async def profile(namespace: Namespace, body: ProfileNsIn, service: Service, scope: CallerScope) -> JSONResponse:
    """The namespace's static and dynamic facts as `{id, memory}`; no custom buckets exist here."""
    _no_filter(body.filter)
    found = await service.profile(scope, ProfileIn(user_id=namespace))
    view = {
        "static": [{"id": f.id, "memory": f.content} for f in found.profile.static],
        "dynamic": [{"id": f.id, "memory": f.content} for f in found.profile.dynamic],
        "buckets": {},
    }
    return JSONResponse({"profile": view})


async def _all_facts(service: MemoryService, scope: CallerScope, namespace: str, forgotten: bool) -> list[Fact]:
    """Every fact of the namespace (live ones, or every status with `forgotten`), page by page."""
    limit = service.core.settings.limits.max_page_size
    flt = FactFilter(status="all" if forgotten else "active", limit=limit)
    facts: list[Fact] = []
    while True:
        page = await service.facts(scope, namespace, flt)
        facts.extend(page.items)
        if page.next_cursor is None:
            return facts
        flt = flt.model_copy(update={"cursor": page.next_cursor})


@router.post("/{namespace}/list/{type}")
async def list_resources(
    namespace: Namespace,
    type: Literal["documents", "chunks", "memories"],
    service: Service,
    scope: CallerScope,
    body: ListIn | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    sort: Annotated[Literal["createdAt", "updatedAt", "position"], Query()] = "createdAt",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> JSONResponse:
    """One page of the namespace's documents, chunks (stored messages) or memories (facts)."""
    body = body or ListIn()
    _no_filter(body.filter)
    include = body.include or ListInclude()
    if sort == "position" and type != "chunks":
        raise InvalidInput("sort: position applies to chunks only", field="sort")
    items: list[dict[str, Any]] = []
    if type == "documents":
        documents = await _documents(service, scope, namespace)
        wanted = include.content or include.memoryCount
        if wanted:
            ids = [p.job.request_id for pubs in documents.values() for p in pubs]
            filled = await service.published.of_user(scope, namespace, ids, with_contents=True)
            documents = common.group_documents(filled)
        for doc_id, pubs in documents.items():
            status = common.document_status(pubs)
            created, updated = common.document_times(pubs)
            system: dict[str, Any] = {
                "status": status,
                "dreamingStatus": "done" if status in ("done", "failed") else "dreaming",
                "createdAt": created,
                "updatedAt": updated,
            }
            if include.memoryCount:
                system["memoryCount"] = sum(len(p.facts) for p in pubs)
            items.append(
                {
                    "id": doc_id,
                    "title": None,
                    "type": "text",
                    "content": common.document_content(pubs) if include.content else None,
                    "summary": None,
                    "metadata": common.document_metadata(pubs),
                    "url": None,
                    "system": system,
                }
            )
    elif type == "chunks":
        documents = await _documents(service, scope, namespace)
        ids = [p.job.request_id for pubs in documents.values() for p in pubs]
        filled = common.group_documents(await service.published.of_user(scope, namespace, ids, with_contents=True))
        for doc_id, pubs in filled.items():
            for chunk in _chunk(list(enumerate(m for p in pubs for m in p.messages))):
                items.append({**chunk, "documentId": doc_id})
    else:
        items = [common.memory_of(f) for f in await _all_facts(service, scope, namespace, bool(include.forgotten))]
    key = {"createdAt": "createdAt", "updatedAt": "updatedAt", "position": "position"}[sort]
    if type == "chunks" and sort == "updatedAt":
        key = "createdAt"  # a stored message never changes
    items.sort(key=lambda i: i[key] if key == "position" else i["system"][key], reverse=order == "desc")
    total = len(items)
    shown = items[(page - 1) * limit : page * limit]
    return JSONResponse(
        {
            "documents": shown if type == "documents" else [],
            "chunks": shown if type == "chunks" else [],
            "memories": shown if type == "memories" else [],
            "pagination": common.pagination(page, limit, total),
        }
    )


def _forgotten(facts: list[Fact]) -> list[dict[str, str]]:
    return [{"id": f.id, "memory": f.content} for f in facts]


@router.delete("/{namespace}/memories")
async def forget(namespace: Namespace, body: IdsIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Forget memories (facts) by id; ids not found in the namespace are reported in `errors`."""
    done, errors = [], []
    for fact_id in dict.fromkeys(body.ids):
        try:
            fact, _ = await service.delete_fact(scope, fact_id, namespace)
        except NotFound:
            errors.append({"id": fact_id, "error": "memory not found"})
            continue
        done.append(fact)
    return JSONResponse({"count": len(done), "errors": errors, "matches": _forgotten(done)})


@router.delete("/{namespace}/memories/semantic")
async def forget_matching(
    namespace: Namespace, body: ForgetMatchingIn, service: Service, scope: CallerScope
) -> JSONResponse:
    """Forget the memories (facts) that match a description; `dryRun` shows the same set without forgetting it."""
    ask = DeleteByQueryIn(user_id=namespace, query=body.query, types=["facts"])
    if body.dryRun:
        scope.require("editor")  # the preview of a delete needs the same rights as the delete
        probe = SearchIn(user_id=namespace, query=body.query, threshold=ask.threshold, top_k=ask.top_k, types=["facts"])
        hits = (await service.search(scope, probe)).results
        matches = [{"id": h.id, "memory": h.content} for h in hits]
        return JSONResponse({"count": len(matches), "errors": [], "matches": matches})
    facts, _ = await service.delete_by_query(scope, ask)
    return JSONResponse({"count": len(facts), "errors": [], "matches": _forgotten(facts)})


@router.delete("/{namespace}")
async def delete_namespace(
    namespace: Namespace,
    service: Service,
    scope: CallerScope,
    moveTo: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Delete everything of the namespace (the user is purged); moving it into another namespace is not supported."""
    if moveTo is not None:
        raise unsupported("moveTo", "moving a namespace's content")
    scope.require("admin")
    await service.users.get(scope, namespace)  # 404 for a namespace nothing was stored in
    documents = await _documents(service, scope, namespace)
    live = await _all_facts(service, scope, namespace, forgotten=False)
    await service.purge_user(scope, namespace)
    return JSONResponse(
        {
            "status": "deleted",
            "namespace": namespace,
            "deletedDocumentsCount": len(documents),
            "deletedMemoriesCount": len(live),
        }
    )
