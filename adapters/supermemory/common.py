"""What every Supermemory route shares: its error shape, its input base, and how our records read in its shapes.

Supermemory's SDKs parse errors as `{"error": message, "details": ...}` and treat bad input as 400 (our
validation says 422). Both SDK generations retry 409 (and 5xx, 429), so nothing permanent may answer 409:
a conflict our service reports is answered 400 here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from memory_server import timeutil
from memory_server.api.errors import rendering_route, service_error_response
from memory_server.context import Scope
from memory_server.errors import Conflict, InvalidInput, ServiceError
from memory_server.models import Fact, Job, JobStatus, SearchHit
from memory_server.published import Publication
from memory_server.schemas import InteractionIn, MessageIn
from memory_server.service import MemoryService

#: Our status -> theirs: bad input is 400 to their clients, and a permanent conflict must not be retried.
_STATUS = {InvalidInput.status: 400, Conflict.status: 400}


#: Our names of their fields, where the service names a field it checks (the most results it may give).
_THEIR_NAMES = {"top_k": "limit"}


def error_response(exc: ServiceError) -> JSONResponse:
    """A domain error in Supermemory's shape, with the headers ours carries (Retry-After, WWW-Authenticate)."""
    ours = service_error_response(exc)
    field, message = exc.field, exc.message
    if field in _THEIR_NAMES and message.startswith(f"{field}:"):
        field, message = _THEIR_NAMES[field], _THEIR_NAMES[field] + message[len(field) :]
    body = {"error": message, "details": field or exc.code}
    response = JSONResponse(body, status_code=_STATUS.get(exc.status, exc.status))
    for name in ("retry-after", "www-authenticate"):
        if name in ours.headers:
            response.headers[name] = ours.headers[name]
    return response


#: Routes whose errors (domain, validation, authentication) answer in Supermemory's shape.
SupermemoryRoute = rendering_route(error_response)


class SmIn(BaseModel):
    """Their request bodies: their field names; a field we do not know is an error naming it, never ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000, allow_inf_nan=False)


Threshold = Annotated[float, Field(ge=0, le=1, strict=True)]


def unsupported(field: str, what: str) -> InvalidInput:
    return InvalidInput(f"{field}: {what} is not supported by this server", field=field)


def iso(value: datetime | None) -> str | None:
    return None if value is None else timeutil.as_utc(value).isoformat().replace("+00:00", "Z")


# ---- documents: a document is a published request, or the requests published under one caller id --------------

_DOC_STATUS: dict[JobStatus, str] = {"queued": "queued", "running": "extracting", "done": "done", "failed": "failed"}


def document_status(pubs: Iterable[Publication]) -> str:
    """One status for the requests of a document: failed if any failed, done when all are, else the earliest."""
    statuses = [p.job.status for p in pubs]
    if "failed" in statuses:
        return "failed"
    for status in ("queued", "running"):
        if status in statuses:
            return _DOC_STATUS[status]
    return "done"


def request_status(status: JobStatus) -> str:
    return _DOC_STATUS[status]


async def publish(
    service: MemoryService,
    scope: Scope,
    user_id: str,
    content: str,
    *,
    document_id: str | None,
    metadata: dict[str, Any] | None,
    date: datetime | None = None,
) -> Job:
    """Publish a document's content as one user message; a caller's document id is our session, so documents added
    under one id are that id's requests."""
    job, _ = await service.ingest(
        scope,
        InteractionIn(
            user_id=user_id,
            messages=[MessageIn(role="user", content=content, created_at=date)],
            session_id=document_id,
            attributes=metadata or {},
        ),
    )
    return job


def group_documents(pubs: Iterable[Publication]) -> dict[str, list[Publication]]:
    """Document id -> its requests, in the order documents first appeared: requests published under a caller's id
    (our session id) form one document; any other request is a document of its own, named by its request id."""
    documents: dict[str, list[Publication]] = {}
    for pub in pubs:
        documents.setdefault(pub.job.session_id or pub.job.request_id, []).append(pub)
    return documents


def find_document(documents: dict[str, list[Publication]], doc_id: str) -> list[Publication] | None:
    """A document by its id, or one request of a named document by its request id."""
    if doc_id in documents:
        return documents[doc_id]
    return next(([p] for pubs in documents.values() for p in pubs if p.job.request_id == doc_id), None)


def document_metadata(pubs: Iterable[Publication]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for pub in pubs:
        merged.update(pub.attributes)
    return merged


def document_content(pubs: Iterable[Publication]) -> str:
    return "\n\n".join(m.content for p in pubs for m in p.messages)


def document_times(pubs: list[Publication]) -> tuple[str | None, str | None]:
    return iso(pubs[0].job.created_at), iso(max(p.job.updated_at for p in pubs))


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {"currentPage": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}


# ---- memories and search hits ----------------------------------------------------------------------------------


def memory_of(fact: Fact) -> dict[str, Any]:
    """A fact as a 5.x `Memory`."""
    return {
        "id": fact.id,
        "memory": fact.content,
        "metadata": fact.attributes,
        "isStatic": fact.kind == "static",
        "isInference": False,
        "isLatest": fact.status != "superseded",
        "isForgotten": fact.status in ("deleted", "expired"),
        "version": 1,
        "system": {"createdAt": iso(fact.created_at), "updatedAt": iso(fact.updated_at)},
    }


def hit_text(hit: SearchHit) -> dict[str, str]:
    """A fact reads as a `memory`, an episode (a stored message) as a `chunk` of its document."""
    return {"memory": hit.content} if hit.type == "fact" else {"chunk": hit.content}


def v4_result(hit: SearchHit) -> dict[str, Any]:
    """A search hit as a v4 search result (`/v4/search`, `/v4/profile`): a memory, or a chunk for a stored message."""
    return {
        "id": hit.id,
        **hit_text(hit),
        "similarity": hit.score,
        "metadata": hit.attributes,
        "updatedAt": iso(hit.updated_at or hit.created_at),
        "version": 1,
    }
