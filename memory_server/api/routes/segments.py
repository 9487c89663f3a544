"""Segments: named conditions over a tenant's users, with their members (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from memory_server.api.deps import CallerScope, Service
from memory_server.models import Page, Segment, SegmentMember
from memory_server.schemas import MemberFilter, SegmentIn, SegmentUpdate

router = APIRouter(prefix="/v1", tags=["segments"])


@router.post("/segments", response_model=Segment, status_code=201)
async def create_segment(body: SegmentIn, service: Service, scope: CallerScope) -> Segment:
    """Create a segment; every user is evaluated against it in the background (`backfill` shows progress)."""
    return await service.segments.create(scope, body)


@router.get("/segments", response_model=list[Segment])
async def list_segments(service: Service, scope: CallerScope) -> list[Segment]:
    return await service.segments.list(scope)


@router.get("/segments/{segment_id}", response_model=Segment)
async def get_segment(segment_id: str, service: Service, scope: CallerScope) -> Segment:
    return await service.segments.get(scope, segment_id)


@router.put("/segments/{segment_id}", response_model=Segment)
async def update_segment(segment_id: str, body: SegmentUpdate, service: Service, scope: CallerScope) -> Segment:
    """Change a segment; a new condition re-evaluates every user in the background."""
    return await service.segments.update(scope, segment_id, body)


@router.delete("/segments/{segment_id}", response_model=Segment)
async def delete_segment(segment_id: str, service: Service, scope: CallerScope) -> Segment:
    return await service.segments.delete(scope, segment_id)


@router.get("/segments/{segment_id}/members", response_model=Page[SegmentMember])
async def members(
    segment_id: str, flt: Annotated[MemberFilter, Query()], service: Service, scope: CallerScope
) -> Page[SegmentMember]:
    """The segment's users by user id, with when each entered."""
    return await service.segments.members(scope, segment_id, flt)
