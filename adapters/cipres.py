"""Cipres compatibility: a batch of users' texts in (`POST /api/v1/users`), their profiles out (`GET
/api/v1/profiles`, one profile, a user's timeline), with Cipres's field names and types, on the service's batch
publish and users.

Cipres's `project_id` is a project of the key's tenant (`memory_server.projects`; 1 is the default one, and
another tenant's reads as not found). A Cipres "source" is where users come from: here a project's batches are
its one source, so `source_id` is the project's id and `source_label` its name (natively, such publishes have
the source `cipres`). Each user's text is one user message of a publish (analysed for signals, extracted into
facts), its `attributes` are merged into the user's record: submitting a `user_id` again updates that user.
Segment enter/exit webhooks fire as for any publish. A profile's `aggregates` is null until the user's first
message is analysed (processing is in the background).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from memory_server import timeutil
from memory_server.api.deps import CallerScope, Service
from memory_server.context import Scope
from memory_server.models import UserRecord
from memory_server.schemas import (
    Attributes,
    Identifier,
    InteractionIn,
    MessageIn,
    ProjectId,
    Text,
    TimelineFilter,
    UserFilter,
)
from memory_server.service import MemoryService

router = APIRouter(prefix="/api/v1", tags=["cipres"])

ACCEPTED_MESSAGE = "Processing in background"
SOURCE = "cipres"
TIMELINE_LENGTH = 200  # Cipres's timeline has no paging: the newest messages, newest first


class CipresUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: Identifier
    text: Text
    attributes: Attributes = Field(default_factory=dict)


class UsersIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    project_id: ProjectId
    users: list[CipresUser]


def _time(at: datetime | None) -> str | None:
    """Cipres's timestamps: UTC to the second with a Z (`2025-01-15T10:30:00Z`)."""
    return None if at is None else timeutil.as_utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _profile(user: UserRecord, label: str) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "source_label": label,
        "attributes": user.attributes,
        "aggregates": None if user.aggregates is None else user.aggregates.model_dump(mode="json"),
        "created_at": _time(user.created_at),
        "updated_at": _time(user.updated_at),
    }


async def _project(service: MemoryService, scope: Scope, project_id: int) -> tuple[Scope, str]:
    """The caller moved into `project_id` of its tenant, and the project's name (the source label)."""
    scope = await service.projects.enter(scope, project_id, field="project_id")
    return scope, (await service.projects.get(scope)).name


@router.post("/users", status_code=202)
async def identify_users(body: UsersIn, service: Service, scope: CallerScope) -> JSONResponse:
    """Submit users' texts for analysis and segmentation: all of the batch is accepted, or none of it."""
    scope, _ = await _project(service, scope, body.project_id)
    publishes = [
        InteractionIn(
            user_id=user.user_id,
            messages=[MessageIn(role="user", content=user.text)],
            user_attributes=user.attributes,
            source=SOURCE,
        )
        for user in body.users
    ]
    stored = await service.publish_batch(scope, publishes, field="users")
    accepted = sum(request_id is not None for request_id in stored)
    return JSONResponse(
        {"accepted": accepted, "source_id": body.project_id, "message": ACCEPTED_MESSAGE}, status_code=202
    )


@router.get("/profiles")
async def list_profiles(
    service: Service,
    scope: CallerScope,
    project_id: Annotated[ProjectId, Query()],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    churn_risk_gte: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    churn_risk_lte: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    sentiment_trend: Annotated[Literal["improving", "stable", "declining"] | None, Query()] = None,
    min_messages: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """A page of the project's profiles, filtered by churn risk, sentiment trend and analysed messages."""
    scope, label = await _project(service, scope, project_id)
    flt = UserFilter(
        limit=limit,
        offset=offset,
        churn_risk_gte=churn_risk_gte,
        churn_risk_lte=churn_risk_lte,
        sentiment_trend=sentiment_trend,
        min_messages=min_messages,
    )
    found = await service.users.list(scope, flt, {})
    return {"users": [_profile(u, label) for u in found.users], "total": found.total}


@router.get("/profiles/{user_id}")
async def get_profile(
    user_id: Identifier, service: Service, scope: CallerScope, project_id: Annotated[ProjectId, Query()]
) -> dict[str, Any]:
    scope, label = await _project(service, scope, project_id)
    return _profile(await service.users.get(scope, user_id), label)


@router.get("/profiles/{user_id}/timeline")
async def get_timeline(
    user_id: Identifier, service: Service, scope: CallerScope, project_id: Annotated[ProjectId, Query()]
) -> dict[str, Any]:
    """The user's analysed messages with their signals, newest first."""
    scope, label = await _project(service, scope, project_id)
    timeline = await service.users.timeline(scope, user_id, TimelineFilter(limit=TIMELINE_LENGTH))
    return {
        "user_id": user_id,
        "timeline": [
            {
                "timestamp": _time(entry.timestamp),
                "source_label": label,
                "sentiment": entry.sentiment,
                "topics": sorted(entry.topics, key=lambda t: -entry.topics[t]),
                "intentions": entry.intentions,
            }
            for entry in timeline.timeline
        ],
    }
