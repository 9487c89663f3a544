"""Projects: separate memory spaces inside a tenant (tenant -> project -> user).

A call acts in one project: its key's (a key may be limited to one), or the one it names (the `X-Project-Id`
header, a Cipres `project_id`). Naming a project is checked here for every door: it must be one of the key's
tenant's (another tenant's, or none, reads as not found) and, for a limited key, its own. Projects are never
deleted, so a project once seen is remembered for the process and checking it costs no query.
"""

from __future__ import annotations

import dataclasses
import re

from memory_server import timeutil
from memory_server.context import DEFAULT_PROJECT, Scope
from memory_server.errors import Conflict, Forbidden, InvalidInput, NotFound
from memory_server.models import Project
from memory_server.store import changelog as changesql
from memory_server.store import projects as projectsql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Database

PROJECT_HEADER = "X-Project-Id"
_PROJECT_ID = re.compile(r"[1-9][0-9]{0,17}")


def parse_header(value: str | None) -> int | None:
    """The project an `X-Project-Id` header names (None when absent)."""
    if value is None:
        return None
    if not _PROJECT_ID.fullmatch(value.strip()):
        raise InvalidInput(f"{PROJECT_HEADER}: must be a project id, a positive integer", field=PROJECT_HEADER)
    return int(value)


class Projects:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: set[tuple[str, int]] = set()

    async def enter(self, scope: Scope, project_id: int | None, field: str = PROJECT_HEADER) -> Scope:
        """`scope` moved into `project_id` of its tenant (unchanged for None); `field` names the input in errors."""
        if project_id is None or project_id == scope.project_id:
            return scope
        if scope.pinned:
            raise Forbidden(f"{field}: this key is limited to project {scope.project_id}", field=field)
        if project_id != DEFAULT_PROJECT and (scope.tenant_id, project_id) not in self._known:
            if await projectsql.get(self.db, scope.tenant_id, project_id) is None:
                raise NotFound(f"{field}: no project {project_id}", field=field)
            self._known.add((scope.tenant_id, project_id))
        return dataclasses.replace(scope, project_id=project_id)

    async def get(self, scope: Scope) -> Project:
        """The project `scope` acts in (checked by `enter` or by its key)."""
        found = await projectsql.get(self.db, scope.tenant_id, scope.project_id)
        if found is None and scope.project_id == DEFAULT_PROJECT:
            await self._record_default(scope.tenant_id)
            found = await projectsql.get(self.db, scope.tenant_id, scope.project_id)
        if found is None:
            raise NotFound(f"{PROJECT_HEADER}: no project {scope.project_id}", field=PROJECT_HEADER)
        return found

    async def create(self, scope: Scope, name: str) -> Project:
        """A new project of the caller's tenant (admin, with a key not limited to one project)."""
        self._check_manager(scope)
        now = timeutil.now()
        async with self.db.transaction() as conn:
            await projectsql.ensure_default(conn, scope.tenant_id, timeutil.to_db(now))
            if await projectsql.name_taken(conn, scope.tenant_id, name):
                raise Conflict(f"name: the tenant already has a project named {name!r}", field="name")
            project = await projectsql.insert(conn, scope.tenant_id, name, timeutil.to_db(now))
            event = ChangeEvent("project_create", scope.tenant_id, None, scope.actor, now, after=project)
            await changesql.record(conn, event)
        return project

    async def listed(self, scope: Scope) -> list[Project]:
        """The tenant's projects, the default one first (a limited key sees only its own)."""
        scope.require("admin")
        found = await projectsql.listed(self.db, scope.tenant_id)
        if not found or found[0].id != DEFAULT_PROJECT:
            await self._record_default(scope.tenant_id)
            found = await projectsql.listed(self.db, scope.tenant_id)
        return [p for p in found if p.id == scope.project_id] if scope.pinned else found

    async def _record_default(self, tenant_id: str) -> None:
        """Tenants appear with their first key or write; their default project's row is written by the first read
        that misses it, so later reads take no write lock."""
        async with self.db.transaction() as conn:
            await projectsql.ensure_default(conn, tenant_id, timeutil.to_db(timeutil.now()))

    def _check_manager(self, scope: Scope) -> None:
        scope.require("admin")
        if scope.pinned:
            raise Forbidden(f"this key is limited to project {scope.project_id}: manage projects with a tenant key")
