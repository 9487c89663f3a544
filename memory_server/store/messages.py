"""SQL for `messages`: every published message, kept as it was sent (the raw material of extraction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memory_server import timeutil
from memory_server.store.db import Connection, Database, Row, marks, read


@dataclass(frozen=True)
class StoredMessage:
    id: int
    request_id: str
    session_id: str | None
    position: int
    role: str
    content: str
    created_at: datetime


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        request_id=row["request_id"],
        session_id=row["session_id"],
        position=row["position"],
        role=row["role"],
        content=row["content"],
        created_at=timeutil.with_offset(timeutil.from_db(row["created_at"]), row["utc_offset"]),
    )


_COLUMNS = "id, request_id, session_id, position, role, content, created_at, utc_offset"


async def insert(
    conn: Connection,
    tenant_id: str,
    user_id: str,
    request_id: str,
    session_id: str | None,
    messages: Sequence[tuple[int, str, str, datetime]],
) -> list[int]:
    """Store (position, role, content, time) messages of one request; return their ids, in the same order."""
    await conn.executemany(
        "INSERT INTO messages (tenant_id, user_id, request_id, session_id, position, role, content, created_at, "
        "utc_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                tenant_id,
                user_id,
                request_id,
                session_id,
                position,
                role,
                content,
                timeutil.to_db(at),
                timeutil.offset_minutes(at),
            )
            for position, role, content, at in messages
        ],
    )
    # `+tenant_id`: by the request's index. Without statistics, SQLite otherwise reads the request's rows through
    # messages_by_time (tenant_id, created_at), that is every message of the tenant (~0.2 s at 50,000 messages).
    rows = await conn.execute_fetchall(
        "SELECT id, position FROM messages WHERE +tenant_id = ? AND request_id = ?", (tenant_id, request_id)
    )
    ids = {r["position"]: r["id"] for r in rows}
    return [ids[position] for position, *_ in messages]


async def of_request(db: Database, tenant_id: str, request_id: str) -> list[StoredMessage]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM messages WHERE tenant_id = ? AND request_id = ? ORDER BY position",
        (tenant_id, request_id),
    )
    return [_message(r) for r in rows]


async def of_requests(source: Database | Connection, tenant_id: str, request_ids: Sequence[str]) -> list[StoredMessage]:
    """The messages of these requests, in the order they were stored."""
    if not request_ids:
        return []
    rows = await read(
        source,
        f"SELECT {_COLUMNS} FROM messages WHERE request_id IN ({marks(request_ids)}) AND tenant_id = ? ORDER BY id",
        (*request_ids, tenant_id),
    )
    return [_message(r) for r in rows]


async def of_user(db: Database, tenant_id: str, user_id: str) -> list[StoredMessage]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM messages WHERE tenant_id = ? AND user_id = ? ORDER BY id", (tenant_id, user_id)
    )
    return [_message(r) for r in rows]


async def requests_of_user(db: Database, tenant_id: str, user_id: str) -> list[str]:
    """The user's requests that stored messages, in the order they arrived."""
    rows = await db.fetchall(
        "SELECT request_id, min(id) AS first FROM messages WHERE tenant_id = ? AND user_id = ? "
        "GROUP BY request_id ORDER BY first",
        (tenant_id, user_id),
    )
    return [r["request_id"] for r in rows]


async def has_user(db: Database, tenant_id: str, user_id: str) -> bool:
    row = await db.fetchone("SELECT 1 FROM messages WHERE tenant_id = ? AND user_id = ? LIMIT 1", (tenant_id, user_id))
    return row is not None


async def users(db: Database, tenant_id: str) -> list[str]:
    """Users with stored messages."""
    rows = await db.fetchall("SELECT DISTINCT user_id FROM messages WHERE tenant_id = ? ORDER BY user_id", (tenant_id,))
    return [r["user_id"] for r in rows]


async def times_of(db: Database, tenant_id: str, message_ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these messages (those still stored) was said."""
    if not message_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT id, created_at FROM messages WHERE tenant_id = ? AND id IN ({marks(message_ids)})",
        (tenant_id, *message_ids),
    )
    return {r["id"]: timeutil.from_db(r["created_at"]) for r in rows}


async def latest_of_requests(db: Database, tenant_id: str, request_ids: Sequence[str]) -> dict[str, datetime]:
    """When the latest message of each of these requests (those with messages still stored) was said."""
    if not request_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT request_id, max(created_at) AS said FROM messages WHERE tenant_id = ? "
        f"AND request_id IN ({marks(request_ids)}) GROUP BY request_id",
        (tenant_id, *request_ids),
    )
    return {r["request_id"]: timeutil.from_db(r["said"]) for r in rows}


async def id_of(conn: Connection, tenant_id: str, request_id: str, position: int) -> int | None:
    """The id of the request's message at `position`, None when it is not stored."""
    rows = await conn.execute_fetchall(
        "SELECT id FROM messages WHERE tenant_id = ? AND request_id = ? AND position = ?",
        (tenant_id, request_id, position),
    )
    return rows[0][0] if rows else None


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    """Remove the user's messages; their vectors go with them (the caller drops their keyword rows first)."""
    cur = await conn.execute("DELETE FROM messages WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return cur.rowcount
