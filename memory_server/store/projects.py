"""SQL for `projects`: a tenant's memory spaces, numbered per tenant; project 1 is the default one."""

from __future__ import annotations

from memory_server import timeutil
from memory_server.models import Project
from memory_server.store.db import Connection, Database, Row

DEFAULT_NAME = "default"


def _project(row: Row) -> Project:
    created_at = timeutil.from_db(row["created_at"])
    return Project(id=row["id"], name=row["name"], default=row["id"] == 1, created_at=created_at)


async def ensure_default(conn: Connection, tenant_id: str, at: str) -> None:
    """Tenants appear with their first key or write; their default project is recorded on first need."""
    await conn.execute(
        "INSERT INTO projects (tenant_id, id, name, created_at) VALUES (?, 1, ?, ?) ON CONFLICT DO NOTHING",
        (tenant_id, DEFAULT_NAME, at),
    )


async def name_taken(conn: Connection, tenant_id: str, name: str) -> bool:
    rows = await conn.execute_fetchall("SELECT 1 FROM projects WHERE tenant_id = ? AND name = ?", (tenant_id, name))
    return bool(rows)


async def insert(conn: Connection, tenant_id: str, name: str, at: str) -> Project:
    """The next number of the tenant's (the caller holds the write lock, so numbers never collide)."""
    [(last,)] = await conn.execute_fetchall("SELECT max(id) FROM projects WHERE tenant_id = ?", (tenant_id,))
    project_id = (last or 1) + 1
    await conn.execute(
        "INSERT INTO projects (tenant_id, id, name, created_at) VALUES (?, ?, ?, ?)", (tenant_id, project_id, name, at)
    )
    return Project(id=project_id, name=name, default=False, created_at=timeutil.from_db(at))


async def get(db: Database, tenant_id: str, project_id: int) -> Project | None:
    row = await db.fetchone(
        "SELECT id, name, created_at FROM projects WHERE tenant_id = ? AND id = ?", (tenant_id, project_id)
    )
    return None if row is None else _project(row)


async def listed(db: Database, tenant_id: str) -> list[Project]:
    rows = await db.fetchall("SELECT id, name, created_at FROM projects WHERE tenant_id = ? ORDER BY id", (tenant_id,))
    return [_project(r) for r in rows]
