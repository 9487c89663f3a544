"""Publishing conversations and following the jobs that extract facts from them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from memory_server.api.deps import CallerScope, Service
from memory_server.models import Job, RequestChanges
from memory_server.schemas import Identifier, InteractionIn

router = APIRouter(prefix="/v1", tags=["ingest"])


@router.post("/interactions", response_model=Job, status_code=202)
async def publish(body: InteractionIn, service: Service, scope: CallerScope, response: Response) -> Job:
    """Store a conversation and queue extraction. 202 with the request id; `wait: true` holds until done."""
    job, duplicate = await service.ingest(scope, body)
    response.headers["X-Duplicate-Request"] = "true" if duplicate else "false"
    if job.status in ("done", "failed"):
        response.status_code = 200
    return job


@router.get("/requests/{request_id}", response_model=Job)
async def request_status(request_id: Identifier, service: Service, scope: CallerScope) -> Job:
    """Status (queued, running, done, failed), attempts, error and the changes a request made."""
    return await service.request(scope, request_id)


@router.get("/requests/{request_id}/changes", response_model=RequestChanges)
async def request_changes(request_id: Identifier, service: Service, scope: CallerScope) -> RequestChanges:
    """What one request added, updated and removed."""
    return await service.request_changes(scope, request_id)


@router.post("/requests/{request_id}/retry", response_model=Job, status_code=202)
async def retry(request_id: Identifier, service: Service, scope: CallerScope) -> Job:
    """Queue a failed request again."""
    return await service.retry(scope, request_id)


@router.post("/users/{user_id:anytext}/reextract", response_model=Job, status_code=202)
async def reextract(user_id: Identifier, service: Service, scope: CallerScope) -> Job:
    """Replay all the user's stored messages through the current extraction config, as one job."""
    return await service.reextract(scope, user_id)
