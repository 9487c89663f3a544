"""Choosing the project the console works in: kept in the session, checked again on every request (see
`web.console`), so every page acts in it. An admin picks from the tenant's projects; another key not limited to
one project names it by id; a key limited to one sees only its own."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from starlette.responses import Response

from memory_server.console.session import sessions
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, errors_by_field, redirect
from memory_server.errors import InvalidInput, ServiceError
from memory_server.ids import row_number

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
FIELD = "project"


async def _page(caller: Caller, error: ServiceError | None = None, shown: str = "") -> Response:
    listed = await caller.service.projects.listed(caller.scope) if caller.is_admin else None
    errors = errors_by_field(error, [FIELD]) if error else {}
    return caller.render("projects.html", error.status if error else 200, projects=listed, errors=errors, shown=shown)


@router.get("/projects")
async def projects(caller: Caller) -> Response:
    return await _page(caller)


def _project_id(raw: str) -> int:
    project_id = row_number(raw)
    if project_id is None:
        raise InvalidInput(f"{FIELD}: a project id is a positive integer", field=FIELD)
    return project_id


@router.post("/projects")
async def switch(caller: Caller, fields: Form) -> Response:
    """Work in another project; a project that is not there, or not this key's, is shown next to the field."""
    raw = fields.get(FIELD, "").strip()
    try:
        project_id = _project_id(raw)
        await caller.service.projects.enter(caller.scope, project_id, field=FIELD)
    except ServiceError as exc:
        return await _page(caller, exc, raw)
    response = redirect("")
    sessions(caller.request).save(response, dataclasses.replace(caller.session, project_id=project_id), caller.request)
    return response
