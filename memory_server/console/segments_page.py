"""Segments (admin): the list with members and backfill progress, creating and editing one with each problem of
its condition shown next to the field (nothing saved), its members, deleting it. A segment whose backfill is
running reloads itself until it is done, as the re-extraction progress page does."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ValidationError
from starlette.responses import Response

from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, errors_by_field, redirect
from memory_server.errors import ServiceError, from_validation
from memory_server.models import Segment
from memory_server.schemas import Identifier, MemberFilter, SegmentIn, SegmentUpdate

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
FIELDS = ("name", "description", "condition")
REFRESH_SECONDS = 2
Saved = tuple[Segment | None, dict[str, str]]  # the segment saved, or the errors by field
Cursor = Annotated[Identifier | None, Query()]
EXAMPLE = '{"aggregate": "churn_risk_score", "gte": 0.7}'


def _shown(segment: Segment) -> dict[str, str]:
    """A segment as its form shows it."""
    condition = json.dumps(segment.condition, indent=2)
    return {"name": segment.name, "description": segment.description or "", "condition": condition}


def _parse(fields: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the service takes them, or the errors by field."""
    try:
        condition = json.loads(fields.get("condition", ""))
    except ValueError as exc:
        return {}, {"condition": f"condition: not valid JSON: {exc}"}
    description = fields.get("description", "").strip() or None
    return {"name": fields.get("name", "").strip(), "description": description, "condition": condition}, {}


async def _save(
    caller: Caller, fields: dict[str, str], segment_id: str | None
) -> tuple[Segment | None, dict[str, str]]:
    """Create (no `segment_id`) or update the segment from the form; the errors by field when it is refused."""
    values, errors = _parse(fields)
    if errors:
        return None, errors
    segments = caller.service.segments
    try:
        if segment_id is None:
            return await segments.create(caller.scope, SegmentIn.model_validate(values)), {}
        return await segments.update(caller.scope, segment_id, SegmentUpdate.model_validate(values)), {}
    except ValidationError as exc:
        return None, errors_by_field(from_validation(list(exc.errors())), FIELDS)
    except ServiceError as exc:
        return None, errors_by_field(exc, FIELDS)


async def _list(caller: Caller, shown: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
    segments = await caller.service.segments.list(caller.scope)
    form = shown or {"name": "", "description": "", "condition": EXAMPLE}
    return caller.render("segments.html", 422 if errors else 200, segments=segments, form=form, errors=errors or {})


@router.get("/segments")
async def segments(caller: Caller) -> Response:
    return await _list(caller)


@router.post("/segments")
async def create(caller: Caller, fields: Form) -> Response:
    made, errors = await _save(caller, fields, None)
    if made is None:
        return await _list(caller, fields, errors)
    return redirect(f"/segments/{made.id}")


async def _detail(
    caller: Caller, segment: Segment, cursor: str | None, shown: dict[str, str], errors: dict[str, str]
) -> Response:
    members = await caller.service.segments.members(caller.scope, segment.id, MemberFilter(cursor=cursor))
    return caller.render(
        "segment.html",
        422 if errors else 200,
        segment=segment,
        members=members,
        form=shown,
        errors=errors,
        refresh=REFRESH_SECONDS if segment.backfill.state == "running" else 0,
    )


@router.get("/segments/{segment_id}")
async def segment(
    caller: Caller, segment_id: Identifier, cursor: Annotated[Identifier | None, Query()] = None
) -> Response:
    found = await caller.service.segments.get(caller.scope, segment_id)
    return await _detail(caller, found, cursor, _shown(found), {})


@router.post("/segments/{segment_id}")
async def update(caller: Caller, fields: Form, segment_id: Identifier) -> Response:
    saved, errors = await _save(caller, fields, segment_id)
    if saved is None:
        return await _detail(caller, await caller.service.segments.get(caller.scope, segment_id), None, fields, errors)
    return redirect(f"/segments/{segment_id}")


@router.post("/segments/{segment_id}/delete")
async def delete(caller: Caller, _: Form, segment_id: Identifier) -> Response:
    await caller.service.segments.delete(caller.scope, segment_id)
    return redirect("/segments")
