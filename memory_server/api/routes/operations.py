"""What operators watch: metrics for Prometheus, and what each profile and search returned."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from memory_server.api.deps import CallerScope, Service
from memory_server.metrics import CONTENT_TYPE
from memory_server.models import Page
from memory_server.retrieval_log import Retrieval
from memory_server.schemas import Identifier, RetrievalFilter

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def metrics(service: Service, scope: CallerScope) -> Response:
    """Every metric in the Prometheus text format: an admin key, or any caller on loopback in open mode."""
    return Response(await service.metrics.exposition(scope), media_type=CONTENT_TYPE)


@router.get("/v1/users/{user_id:anytext}/retrievals", response_model=Page[Retrieval])
async def retrievals(
    user_id: Identifier, flt: Annotated[RetrievalFilter, Query()], service: Service, scope: CallerScope
) -> Page[Retrieval]:
    """What each profile and search of this user returned (memories with their scores), for which request,
    query and caller; newest first."""
    return await service.retrievals.page(scope, user_id, flt)
