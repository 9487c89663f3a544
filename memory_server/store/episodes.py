"""SQL for episodes: stored messages made searchable, with a keyword index (`episodes_fts`) and a vector
per message (`message_vectors`).

A message is an episode when it has a row in `episodes_fts` (its role was configured to be one when it
arrived). Its vector is made after commit: the message id goes to the `vector_ops` outbox in the same
transaction, and the flush embeds it, stores the vector and updates the vector index, so a crash between
the two loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from memory_server import cjk, timeutil
from memory_server.models import Episode
from memory_server.store import fts, users
from memory_server.store.db import Connection, Database, Row, marks, page_of
from memory_server.store.vectors import IndexEntry, blob

_COLUMNS = (
    "m.id AS message_id, m.user_id, m.request_id, m.position, m.role, m.content, m.session_id, m.created_at, "
    "m.utc_offset, j.source, j.attributes"
)
_FROM = "messages m LEFT JOIN jobs j ON j.request_id = m.request_id AND j.tenant_id = m.tenant_id"
_IS_EPISODE = "EXISTS (SELECT 1 FROM episodes_fts e WHERE e.rowid = m.id)"
# `+m.tenant_id`: with ids given, look the rows up by id; without it SQLite's planner (no statistics) prefers the
# tenant index and reads every message of the tenant (200 ms at 500,000 messages instead of 0.2 ms).


def _episode(row: Row) -> Episode:
    return Episode(
        message_id=row["message_id"],
        user_id=row["user_id"],
        request_id=row["request_id"],
        position=row["position"],
        role=row["role"],
        content=row["content"],
        session_id=row["session_id"],
        source=row["source"],
        attributes=json.loads(row["attributes"]) if row["attributes"] else {},
        created_at=timeutil.with_offset(timeutil.from_db(row["created_at"]), row["utc_offset"]),
    )


async def add(conn: Connection, tenant_id: str, user_id: str, items: Sequence[tuple[int, str, str]]) -> None:
    """Index (message id, content, date tokens) for keywords now, and queue their vectors. The index holds the
    content with its CJK runs as bigrams (`memory_server.cjk`); the message keeps its text."""
    scope = fts.scope_token(tenant_id, user_id)
    await conn.executemany(
        "INSERT INTO episodes_fts (rowid, content, scope, dates) VALUES (?, ?, ?, ?)",
        [(message_id, cjk.bigrams(content), scope, days) for message_id, content, days in items],
    )
    await mark_dirty(conn, [message_id for message_id, *_ in items])


async def mark_dirty(conn: Connection, message_ids: Sequence[int]) -> None:
    """Queue messages whose vector (and index entry) must follow SQLite once this transaction commits."""
    await conn.executemany("INSERT INTO vector_ops (message_id) VALUES (?)", [(i,) for i in message_ids])


async def requeue(db: Database, message_ids: Sequence[int]) -> None:
    async with db.transaction() as conn:
        await mark_dirty(conn, message_ids)


async def remove(conn: Connection, tenant_id: str, user_id: str, message_ids: Sequence[int]) -> list[Episode]:
    """Delete the user's messages among `message_ids` with their keyword rows, vectors (by cascade) and index
    entries (queued); return the episodes as they were."""
    if not message_ids:
        return []
    ids = list(message_ids)
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE +m.tenant_id = ? AND +m.user_id = ? AND m.id IN ({marks(ids)}) "
        "ORDER BY m.id",
        (tenant_id, user_id, *ids),
    )
    found = [_episode(r) for r in rows]
    gone = [e.message_id for e in found]
    if gone:
        await conn.execute(f"DELETE FROM episodes_fts WHERE rowid IN ({marks(gone)})", gone)
        await conn.execute(f"DELETE FROM messages WHERE id IN ({marks(gone)})", gone)
        await mark_dirty(conn, gone)
        await users.reseen(conn, tenant_id, user_id)
    return found


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> None:
    """Drop the keyword rows and queue index removal of every message of the user (the caller deletes them)."""
    rows = await conn.execute_fetchall(
        "SELECT id FROM messages WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    )
    ids = [r["id"] for r in rows]
    await conn.execute(
        "DELETE FROM episodes_fts WHERE rowid IN (SELECT id FROM messages WHERE tenant_id = ? AND user_id = ?)",
        (tenant_id, user_id),
    )
    await mark_dirty(conn, ids)


async def vectors_of_user(db: Database, tenant_id: str, user_id: str, roles: Sequence[str]) -> list[Row]:
    """(id, vector) of the user's embedded episodes of `roles`, for exact scoring."""
    if not roles:
        return []
    return await db.fetchall(
        "SELECT m.id, v.vector FROM messages m JOIN message_vectors v ON v.message_id = m.id "
        f"WHERE m.tenant_id = ? AND m.user_id = ? AND m.role IN ({marks(roles)}) ORDER BY m.id",
        (tenant_id, user_id, *roles),
    )


async def vectors_by_id(db: Database, tenant_id: str, message_ids: Sequence[int]) -> list[Row]:
    """(id, vector) of the tenant's embedded episodes among `message_ids`."""
    if not message_ids:
        return []
    return await db.fetchall(
        "SELECT m.id, v.vector FROM messages m JOIN message_vectors v ON v.message_id = m.id "
        f"WHERE +m.tenant_id = ? AND m.id IN ({marks(message_ids)}) ORDER BY m.id",
        (tenant_id, *message_ids),
    )


async def more_than(db: Database, tenant_id: str, user_id: str, n: int) -> bool:
    """Whether the user has more than `n` embedded episodes. Their messages are counted first from the
    `messages_by_user` index alone; only when those are more than `n` are the vectors joined, and never
    more than n + 1 of them (a vector row is a page read: joining them all cost ~2 ms for 500 messages)."""
    row = await db.fetchone(
        "SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE tenant_id = ? AND user_id = ? LIMIT ?) AS t",
        (tenant_id, user_id, n + 1),
    )
    if row is None or row["n"] <= n:
        return False
    row = await db.fetchone(
        "SELECT count(*) AS n FROM (SELECT 1 FROM messages m JOIN message_vectors v ON v.message_id = m.id "
        "WHERE m.tenant_id = ? AND m.user_id = ? LIMIT ?) AS t",
        (tenant_id, user_id, n + 1),
    )
    return row is not None and row["n"] > n


async def get_many(db: Database, tenant_id: str, message_ids: Sequence[int]) -> dict[int, Episode]:
    if not message_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE +m.tenant_id = ? AND m.id IN ({marks(message_ids)}) AND {_IS_EPISODE}",
        (tenant_id, *message_ids),
    )
    return {r["message_id"]: _episode(r) for r in rows}


async def page(
    db: Database,
    tenant_id: str,
    user_id: str,
    *,
    roles: Sequence[str] | None,
    session_id: str | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[Episode], int | None]:
    """One user's episodes, newest first, and the cursor of the next page."""
    where, params = ["m.tenant_id = ?", "m.user_id = ?", _IS_EPISODE], [tenant_id, user_id]
    if roles:
        where.append(f"m.role IN ({marks(roles)})")
        params.extend(roles)
    if session_id is not None:
        where.append("m.session_id = ?")
        params.append(session_id)
    if cursor is not None:
        where.append("m.id < ?")
        params.append(cursor)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)} ORDER BY m.id DESC LIMIT ?", (*params, limit + 1)
    )
    rows, cursor = page_of(rows, limit, "message_id")
    return [_episode(r) for r in rows], cursor


async def older_than(db: Database, tenant_id: str, before: datetime, limit: int) -> list[tuple[str, int]]:
    """(user, message id) of the tenant's episodes sent before `before`."""
    rows = await db.fetchall(
        f"SELECT m.user_id, m.id FROM messages m WHERE m.tenant_id = ? AND m.created_at < ? AND {_IS_EPISODE} LIMIT ?",
        (tenant_id, timeutil.to_db(before), limit),
    )
    return [(r["user_id"], r["id"]) for r in rows]


async def tenants(db: Database) -> list[str]:
    return [r["tenant_id"] for r in await db.fetchall("SELECT DISTINCT tenant_id FROM messages")]


# ---- the vector outbox's view of episodes ----------------------------------------------------------


#: Episodes of the users the index holds (`store.indexed`), with their vectors if embedded.
_FOR_INDEX = (
    "SELECT m.id, m.tenant_id, m.user_id, m.role, m.content, v.model_id, v.vector FROM messages m "
    "LEFT JOIN message_vectors v ON v.message_id = m.id"
)
_INDEXED = (
    "EXISTS (SELECT 1 FROM indexed_users i WHERE i.family = 'episodes' AND i.tenant_id = m.tenant_id "
    "AND i.user_id = m.user_id)"
)


async def for_index(db: Database, message_ids: Sequence[int]) -> list[Row]:
    """The episodes among `message_ids` of users the index holds, with what the index needs: (id, tenant_id,
    user_id, role, content, model_id, vector), model and vector NULL when not embedded yet."""
    if not message_ids:
        return []
    return await db.fetchall(
        f"{_FOR_INDEX} WHERE m.id IN ({marks(message_ids)}) AND {_IS_EPISODE} AND {_INDEXED}", tuple(message_ids)
    )


async def for_index_of_user(db: Database, tenant_id: str, user_id: str) -> list[Row]:
    """`for_index` rows of every episode of one user the index holds (or is filling)."""
    return await db.fetchall(
        f"{_FOR_INDEX} WHERE m.tenant_id = ? AND m.user_id = ? AND {_IS_EPISODE} AND {_INDEXED}", (tenant_id, user_id)
    )


async def to_embed(db: Database, model_id: str, limit: int) -> list[Row]:
    """(id, content) of queued episodes without a vector of `model_id`."""
    return await db.fetchall(
        "SELECT m.id, m.content FROM messages m WHERE m.id IN (SELECT message_id FROM vector_ops "
        f"WHERE message_id IS NOT NULL) AND {_IS_EPISODE} AND NOT EXISTS (SELECT 1 FROM message_vectors v "
        "WHERE v.message_id = m.id AND v.model_id = ?) ORDER BY m.id LIMIT ?",
        (model_id, limit),
    )


async def lacking_vectors(db: Database, message_ids: Sequence[int], model_id: str) -> list[Row]:
    """(id, content) of the episodes among `message_ids` without a vector of `model_id`."""
    if not message_ids:
        return []
    return await db.fetchall(
        f"SELECT m.id, m.content FROM messages m WHERE m.id IN ({marks(message_ids)}) AND {_IS_EPISODE} "
        "AND NOT EXISTS (SELECT 1 FROM message_vectors v WHERE v.message_id = m.id AND v.model_id = ?)",
        (*message_ids, model_id),
    )


async def put_vectors(conn: Connection, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
    """Store (message id, model id, vector) rows, replacing older ones; a message deleted meanwhile is skipped."""
    await conn.executemany(
        "INSERT INTO message_vectors (message_id, model_id, vector) "
        "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?) "
        "ON CONFLICT (message_id) DO UPDATE SET model_id = excluded.model_id, vector = excluded.vector",
        [(message_id, model, blob(vector), message_id) for message_id, model, vector in rows],
    )


async def embedded_ids(db: Database, model_id: str) -> list[int]:
    """Episodes of the users the index holds with a vector of `model_id`: what the episodes' index should hold."""
    rows = await db.fetchall(
        f"SELECT m.id FROM messages m JOIN message_vectors v ON v.message_id = m.id "
        f"WHERE v.model_id = ? AND {_IS_EPISODE} AND {_INDEXED}",
        (model_id,),
    )
    return [r["id"] for r in rows]


def index_entry(row: Row, vector: np.ndarray | None = None) -> IndexEntry:
    """A `for_index` row as the index holds it, with its stored vector unless a fresh one is given."""
    stored = vector if vector is not None else np.frombuffer(row["vector"], np.float32)
    return IndexEntry(str(row["id"]), row["tenant_id"], row["user_id"], row["role"], stored)


async def indexable(db: Database, message_ids: Sequence[int], model_id: str) -> list[IndexEntry]:
    """The episodes among `message_ids` as the index should hold them (those embedded with `model_id`)."""
    return [index_entry(r) for r in await for_index(db, message_ids) if r["model_id"] == model_id]


async def all_ids(db: Database) -> list[int]:
    return [r["rowid"] for r in await db.fetchall("SELECT rowid FROM episodes_fts ORDER BY rowid")]


async def other_model(db: Database, model_id: str) -> str | None:
    row = await db.fetchone("SELECT model_id FROM message_vectors WHERE model_id != ? LIMIT 1", (model_id,))
    return None if row is None else row["model_id"]
