"""`POST /v4/profile`: a container's static and dynamic facts as strings, with search results when `q` is given."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from adapters.supermemory.common import SmIn, SupermemoryRoute, Threshold, v4_result
from memory_server.api.deps import CallerScope, Service
from memory_server.errors import NotFound
from memory_server.schemas import Identifier, ProfileIn, Text

router = APIRouter(route_class=SupermemoryRoute, tags=["supermemory"])


class ProfileV4In(SmIn):
    containerTag: Identifier
    q: Text | None = None
    threshold: Threshold | None = None


@router.post("/v4/profile")
async def profile(body: ProfileV4In, service: Service, scope: CallerScope) -> JSONResponse:
    """Static and dynamic facts, most useful first; `searchResults` only when `q` is given. 404 for a container
    nothing was ever stored for."""
    found = await service.profile(scope, ProfileIn(user_id=body.containerTag, q=body.q, threshold=body.threshold))
    if not (found.profile.static or found.profile.dynamic or (found.searchResults and found.searchResults.results)):
        try:
            await service.users.get(scope, body.containerTag)
        except NotFound:
            raise NotFound(f"containerTag: no container {body.containerTag}", field="containerTag") from None
    answer: dict[str, Any] = {
        "profile": {
            "static": [f.content for f in found.profile.static],
            "dynamic": [f.content for f in found.profile.dynamic],
        }
    }
    if found.searchResults is not None:
        results = found.searchResults
        answer["searchResults"] = {
            "results": [v4_result(h) for h in results.results],
            "total": results.total,
            "timing": results.timing,
        }
    return JSONResponse(answer)
