"""Moving memory in and out: a user's portable JSON export/import, and rebuilding the vector index.

An export holds the user's messages, every fact (all statuses) and their change log; vectors are left
out because they belong to one embedding model, and import re-embeds. Import is idempotent: messages
are keyed by (request, position), facts by id, change-log rows by (fact, event, time).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel, Field

from memory_server import changelog as changesql
from memory_server import facts as factsql
from memory_server import timeutil
from memory_server.context import Core, Scope
from memory_server.errors import NotFound
from memory_server.models import Change, Fact
from memory_server.schemas import Identifier, Timestamp

EXPORT_FORMAT = "memory-server/user-export@1"
Progress = Callable[[int, int], None]


class ExportedMessage(BaseModel):
    request_id: str
    session_id: str | None = None
    position: int = Field(ge=0)
    role: str
    content: str
    created_at: Timestamp


class UserExport(BaseModel):
    format: str = EXPORT_FORMAT
    user_id: Identifier
    messages: list[ExportedMessage] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    changelog: list[Change] = Field(default_factory=list)


async def export_user(core: Core, scope: Scope, user_id: str) -> UserExport:
    tenant = (scope.tenant_id, user_id)
    messages = await core.db.fetchall(
        "SELECT request_id, session_id, position, role, content, created_at FROM messages "
        "WHERE tenant_id = ? AND user_id = ? ORDER BY id",
        tenant,
    )
    facts = await core.db.fetchall(
        f"SELECT {factsql.COLUMNS} FROM facts WHERE tenant_id = ? AND user_id = ? ORDER BY rowid", tenant
    )
    changes = await core.db.fetchall(
        f"SELECT {changesql.COLUMNS} FROM changelog WHERE tenant_id = ? AND user_id = ? ORDER BY id", tenant
    )
    if not (messages or facts or changes):
        raise NotFound(f"user_id: tenant {scope.tenant_id} has no user {user_id}", field="user_id")
    return UserExport(
        user_id=user_id,
        messages=[ExportedMessage(**dict(zip(ExportedMessage.model_fields, r, strict=True))) for r in messages],
        facts=[factsql.to_fact(r) for r in facts],
        changelog=[changesql.to_change(r) for r in changes],
    )


async def import_user(core: Core, scope: Scope, data: UserExport) -> dict[str, int]:
    """Add what the export holds and this server lacks; return how many rows of each kind were added."""
    if data.format != EXPORT_FORMAT:
        raise ValueError(f"format: expected {EXPORT_FORMAT!r}, got {data.format!r}")
    user = data.user_id
    if any(f.user_id != user for f in data.facts) or any(c.user_id != user for c in data.changelog):
        raise ValueError("facts and changelog must all belong to user_id")
    vectors = await core.embedder.embed([f.content for f in data.facts])
    added = {"messages": 0, "facts": 0, "changelog": 0}
    async with core.user_lock(scope.tenant_id, user), core.db.transaction() as conn:
        for m in data.messages:
            exists = await conn.execute_fetchall(
                "SELECT 1 FROM messages WHERE tenant_id = ? AND request_id = ? AND position = ?",
                (scope.tenant_id, m.request_id, m.position),
            )
            if not exists:
                await conn.execute(
                    "INSERT INTO messages (tenant_id, user_id, request_id, session_id, position, role, content, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        scope.tenant_id,
                        user,
                        m.request_id,
                        m.session_id,
                        m.position,
                        m.role,
                        m.content,
                        timeutil.to_db(m.created_at),
                    ),
                )
                added["messages"] += 1
        for fact, vector in zip(data.facts, vectors, strict=True):
            clash = await conn.execute_fetchall(
                "SELECT 1 FROM facts WHERE id = ? OR (tenant_id = ? AND user_id = ? AND content_hash = ? "
                "AND status = 'active' AND ? = 'active')",
                (fact.id, scope.tenant_id, user, factsql.content_hash(fact.content), fact.status),
            )
            if not clash:
                await factsql.insert(conn, scope.tenant_id, fact, vector, core.embedder.model_id)
                added["facts"] += 1
        for change in data.changelog:
            at = timeutil.to_db(change.created_at)
            exists = await conn.execute_fetchall(
                "SELECT 1 FROM changelog WHERE tenant_id = ? AND user_id = ? AND fact_id IS ? AND event = ? "
                "AND created_at = ?",
                (scope.tenant_id, user, change.fact_id, change.event, at),
            )
            if not exists:
                await conn.execute(
                    "INSERT INTO changelog (tenant_id, user_id, fact_id, event, before, after, request_id, actor, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        scope.tenant_id,
                        user,
                        change.fact_id,
                        change.event,
                        json.dumps(change.before) if change.before is not None else None,
                        json.dumps(change.after) if change.after is not None else None,
                        change.request_id,
                        change.actor,
                        at,
                    ),
                )
                added["changelog"] += 1
    await core.vectors.flush()
    return added


async def reindex(core: Core, progress: Progress | None = None, batch: int = 256) -> int:
    """Rebuild the vector index from SQLite, re-embedding vectors made by another model; return facts indexed."""
    await core.index.reset()
    stale = await core.db.fetchall(
        "SELECT f.id, f.content FROM facts f JOIN fact_vectors v ON v.fact_id = f.id WHERE v.model_id != ? "
        "UNION ALL SELECT f.id, f.content FROM facts f WHERE NOT EXISTS "
        "(SELECT 1 FROM fact_vectors v WHERE v.fact_id = f.id)",
        (core.embedder.model_id,),
    )
    ids = [r[0] for r in await core.db.fetchall("SELECT id FROM facts ORDER BY rowid")]
    total = len(stale) + len(ids)
    done = 0
    for start in range(0, len(stale), batch):
        chunk = stale[start : start + batch]
        vectors = await core.embedder.embed([r[1] for r in chunk])
        async with core.db.transaction() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO fact_vectors (fact_id, model_id, vector) VALUES (?, ?, ?)",
                [
                    (r[0], core.embedder.model_id, factsql.vector_to_blob(v))
                    for r, v in zip(chunk, vectors, strict=True)
                ],
            )
        done += len(chunk)
        if progress:
            progress(done, total)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        async with core.db.transaction() as conn:
            await factsql.mark_vector_dirty(conn, chunk)
        await core.vectors.flush()
        done += len(chunk)
        if progress:
            progress(done, total)
    rows = await core.db.fetchone(
        "SELECT count(*) FROM facts f WHERE " + factsql.LIVE, (timeutil.to_db(timeutil.now()),)
    )
    return int(rows[0]) if rows else 0


def load_export(raw: str | bytes) -> UserExport:
    return UserExport.model_validate(json.loads(raw))
