"""SQL for segments, their members and the backfill that evaluates every user after a change."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from memory_server import timeutil
from memory_server.models import Backfill, Segment, SegmentMember, UserSegment
from memory_server.store.db import Connection, Database, Row, same
from memory_server.store.vectors import blob

_COUNT_MEMBERS = "(SELECT count(*) FROM segment_members x WHERE x.segment_id = s.id) AS members"


def _segment(row: Row) -> Segment:
    return Segment(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        condition=json.loads(row["condition"]),
        backfill=Backfill(state=row["backfill_state"], done=row["backfill_done"], total=row["backfill_total"]),
        members=row["members"],
        created_by=row["created_by"],
        created_at=timeutil.from_db(row["created_at"]),
        updated_at=timeutil.from_db(row["updated_at"]),
    )


async def _users(conn: Connection, tenant_id: str) -> int:
    rows = await conn.execute_fetchall("SELECT count(*) FROM users WHERE tenant_id = ?", (tenant_id,))
    return int(next(iter(rows))[0])


async def insert(
    conn: Connection,
    tenant_id: str,
    segment_id: str,
    *,
    name: str,
    description: str | None,
    condition: dict[str, Any],
    model_id: str,
    vectors: np.ndarray | None,
    actor: str,
    now: datetime,
) -> None:
    """A new segment, its backfill started over every user the tenant has now."""
    stamp = timeutil.to_db(now)
    await conn.execute(
        "INSERT INTO segments (id, tenant_id, name, description, condition, model_id, vectors, backfill_state, "
        "backfill_total, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
        (
            segment_id,
            tenant_id,
            name,
            description,
            json.dumps(condition),
            model_id,
            None if vectors is None else blob(vectors),
            await _users(conn, tenant_id),
            actor,
            stamp,
            stamp,
        ),
    )


async def update(
    conn: Connection,
    tenant_id: str,
    segment_id: str,
    *,
    name: str,
    description: str | None,
    condition: dict[str, Any] | None,
    model_id: str,
    vectors: np.ndarray | None,
    now: datetime,
) -> bool:
    """Rename or redescribe; a new `condition` also restarts the backfill. False when there is no such segment."""
    stamp = timeutil.to_db(now)
    cur = await conn.execute(
        "UPDATE segments SET name = ?, description = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
        (name, description, stamp, tenant_id, segment_id),
    )
    if cur.rowcount == 0:
        return False
    if condition is not None:
        await conn.execute(
            "UPDATE segments SET condition = ?, model_id = ?, vectors = ?, backfill_state = 'running', "
            "backfill_after = NULL, backfill_done = 0, backfill_total = ? WHERE id = ?",
            (
                json.dumps(condition),
                model_id,
                None if vectors is None else blob(vectors),
                await _users(conn, tenant_id),
                segment_id,
            ),
        )
    return True


async def delete(conn: Connection, tenant_id: str, segment_id: str) -> bool:
    cur = await conn.execute("DELETE FROM segments WHERE tenant_id = ? AND id = ?", (tenant_id, segment_id))
    return cur.rowcount > 0


async def get(db: Database, tenant_id: str, segment_id: str) -> Segment | None:
    row = await db.fetchone(
        f"SELECT s.*, {_COUNT_MEMBERS} FROM segments s WHERE s.tenant_id = ? AND s.id = ?", (tenant_id, segment_id)
    )
    return None if row is None else _segment(row)


async def all_of(db: Database, tenant_id: str) -> list[Segment]:
    rows = await db.fetchall(
        f"SELECT s.*, {_COUNT_MEMBERS} FROM segments s WHERE s.tenant_id = ? ORDER BY s.name", (tenant_id,)
    )
    return [_segment(r) for r in rows]


async def count(db: Database, tenant_id: str) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM segments WHERE tenant_id = ?", (tenant_id,))
    return int(row["n"]) if row else 0


async def stamp(conn: Connection, tenant_id: str) -> tuple[int, str | None]:
    """Changes whenever a segment of the tenant is created, changed or deleted (for caching compiled ones)."""
    rows = await conn.execute_fetchall(
        "SELECT count(*), max(updated_at) FROM segments WHERE tenant_id = ?", (tenant_id,)
    )
    n, latest = next(iter(rows))
    return int(n), latest


async def definitions(conn: Connection, tenant_id: str) -> list[Row]:
    """id, name, condition, model_id and vectors of every segment of the tenant."""
    return list(
        await conn.execute_fetchall(
            "SELECT id, name, condition, model_id, vectors FROM segments WHERE tenant_id = ? ORDER BY id",
            (tenant_id,),
        )
    )


async def memberships(conn: Connection, tenant_id: str, user_id: str) -> dict[str, str]:
    """Segment id -> entered_at (as stored) for the segments the user is in."""
    rows = await conn.execute_fetchall(
        "SELECT segment_id, entered_at FROM segment_members WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    )
    return {r["segment_id"]: r["entered_at"] for r in rows}


async def enter(conn: Connection, tenant_id: str, segment_id: str, user_id: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO segment_members (segment_id, tenant_id, user_id, entered_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (segment_id, tenant_id, user_id, timeutil.to_db(at)),
    )


async def leave(conn: Connection, segment_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM segment_members WHERE segment_id = ? AND user_id = ?", (segment_id, user_id))


async def of_user(db: Database, tenant_id: str, user_id: str) -> list[UserSegment]:
    rows = await db.fetchall(
        "SELECT s.id, s.name, m.entered_at FROM segment_members m JOIN segments s ON s.id = m.segment_id "
        "WHERE m.tenant_id = ? AND m.user_id = ? ORDER BY m.entered_at, s.name",
        (tenant_id, user_id),
    )
    return [UserSegment(id=r["id"], name=r["name"], entered_at=timeutil.from_db(r["entered_at"])) for r in rows]


async def of_users(db: Database, tenant_id: str, user_ids: list[str]) -> dict[str, list[UserSegment]]:
    """The segments of each of `user_ids` (a page of a user list), by user."""
    if not user_ids:
        return {}
    rows = await db.fetchall(
        "SELECT m.user_id, s.id, s.name, m.entered_at FROM segment_members m JOIN segments s ON s.id = m.segment_id "
        f"WHERE m.tenant_id = ? AND m.user_id IN ({', '.join('?' * len(user_ids))}) ORDER BY m.entered_at, s.name",
        (tenant_id, *user_ids),
    )
    found: dict[str, list[UserSegment]] = {}
    for r in rows:
        found.setdefault(r["user_id"], []).append(
            UserSegment(id=r["id"], name=r["name"], entered_at=timeutil.from_db(r["entered_at"]))
        )
    return found


async def members(
    db: Database, tenant_id: str, segment_id: str, after: str | None, limit: int
) -> tuple[list[SegmentMember], str | None]:
    """Members by user id, from after `after`, and the user id the next page starts after."""
    rows = await db.fetchall(
        "SELECT user_id, entered_at FROM segment_members WHERE tenant_id = ? AND segment_id = ? AND user_id > ? "
        "ORDER BY user_id LIMIT ?",
        (tenant_id, segment_id, after or "", limit + 1),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [SegmentMember(user_id=r["user_id"], entered_at=timeutil.from_db(r["entered_at"])) for r in rows]
    return items, rows[-1]["user_id"] if more else None


async def backfilling(db: Database, limit: int) -> list[Row]:
    """Segments whose backfill is running: tenant, id and the last user done."""
    return await db.fetchall(
        "SELECT tenant_id, id, backfill_after FROM segments WHERE backfill_state = 'running' ORDER BY updated_at "
        "LIMIT ?",
        (limit,),
    )


async def advance(conn: Connection, segment_id: str, from_after: str | None, to_after: str | None, done: int) -> None:
    """Record a batch of the backfill (only if no change restarted it meanwhile); None: every user is done."""
    await conn.execute(
        "UPDATE segments SET backfill_after = ?, backfill_done = backfill_done + ?, "
        "backfill_state = CASE WHEN CAST(? AS TEXT) IS NULL THEN 'done' ELSE 'running' END, "
        "backfill_total = CASE WHEN backfill_total > backfill_done + ? THEN backfill_total ELSE backfill_done + ? END "
        f"WHERE id = ? AND backfill_state = 'running' AND backfill_after {same(conn)} ?",
        (to_after, done, to_after, done, done, segment_id, from_after),
    )


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> None:
    await conn.execute("DELETE FROM segment_members WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))


def unpack(vectors: bytes | None, rows: int) -> np.ndarray:
    """The embedded `matches` texts, one row each."""
    if not vectors or rows == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(vectors, dtype=np.float32).reshape(rows, -1)
