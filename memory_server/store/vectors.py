"""The vector outbox (`vector_ops`: fact ids and message ids) and the fact vectors the index should hold,
read from `facts` and `fact_vectors` (episodes' side: `store.episodes`). The index itself lives in
`memory_server.index`; it reads its truth from here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory_server import timeutil
from memory_server.store.db import Connection, Database, Row, marks

_LIVE = "f.status = 'active' AND (f.expires_at IS NULL OR f.expires_at > ?)"
#: Only the users the index holds (`store.indexed`); a condition, not a join, so the planner still starts from ids.
_INDEXED = (
    "EXISTS (SELECT 1 FROM indexed_users i WHERE i.family = 'facts' AND i.tenant_id = f.tenant_id "
    "AND i.user_id = f.user_id)"
)


@dataclass(frozen=True)
class IndexEntry:
    """One vector as the index holds it: the fact's or message's id, whose it is, and the vector."""

    id: str
    tenant_id: str
    user_id: str
    kind: str  # a fact's kind (static, dynamic); an episode's role
    vector: np.ndarray


async def mark_dirty(conn: Connection, fact_ids: Sequence[str]) -> None:
    """Queue facts whose index entry must follow SQLite once this transaction commits."""
    await conn.executemany("INSERT INTO vector_ops (fact_id) VALUES (?)", [(i,) for i in fact_ids])


async def requeue(db: Database, fact_ids: Sequence[str]) -> None:
    """Queue facts for the next flush, in a transaction of their own."""
    async with db.transaction() as conn:
        await mark_dirty(conn, fact_ids)


async def queued(db: Database, limit: int, *, messages: bool = True) -> tuple[int, list[str], list[int]] | None:
    """The oldest queued operations: the last op id among them, their distinct fact ids and message ids
    (None: nothing queued). Without `messages`, only fact operations are read."""
    only = "" if messages else " WHERE fact_id IS NOT NULL"
    rows = await db.fetchall(f"SELECT id, fact_id, message_id FROM vector_ops{only} ORDER BY id LIMIT ?", (limit,))
    if not rows:
        return None
    facts = sorted({r["fact_id"] for r in rows if r["fact_id"] is not None})
    return rows[-1]["id"], facts, sorted({r["message_id"] for r in rows if r["message_id"] is not None})


async def done(db: Database, up_to: int, *, messages: bool = True) -> None:
    """Drop the operations applied, up to and including op id `up_to` (without `messages`: fact ones only)."""
    only = "" if messages else " AND fact_id IS NOT NULL"
    async with db.transaction() as conn:
        await conn.execute(f"DELETE FROM vector_ops WHERE id <= ?{only}", (up_to,))


async def queued_messages(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM vector_ops WHERE message_id IS NOT NULL")
    return int(row["n"]) if row else 0


async def pending(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM vector_ops")
    return int(row["n"]) if row else 0


_ENTRY = "SELECT f.id, f.tenant_id, f.user_id, f.kind, v.vector FROM facts f JOIN fact_vectors v ON v.fact_id = f.id"


def _entries(rows: Sequence[Row]) -> list[IndexEntry]:
    return [
        IndexEntry(r["id"], r["tenant_id"], r["user_id"], r["kind"], np.frombuffer(r["vector"], dtype=np.float32))
        for r in rows
    ]


async def indexable(db: Database, fact_ids: Sequence[str]) -> list[IndexEntry]:
    """The live facts among `fact_ids` of users the index holds, as the index should hold them."""
    if not fact_ids:
        return []
    rows = await db.fetchall(
        f"{_ENTRY} WHERE f.id IN ({marks(fact_ids)}) AND {_LIVE} AND {_INDEXED}",
        (*fact_ids, timeutil.to_db(timeutil.now())),
    )
    return _entries(rows)


async def indexable_of_user(db: Database, tenant_id: str, user_id: str) -> list[IndexEntry]:
    """Every live fact of one user the index holds (or is filling)."""
    rows = await db.fetchall(
        f"{_ENTRY} WHERE f.tenant_id = ? AND f.user_id = ? AND {_LIVE} AND {_INDEXED}",
        (tenant_id, user_id, timeutil.to_db(timeutil.now())),
    )
    return _entries(rows)


async def live_ids(db: Database) -> set[str]:
    """Every fact the index should hold: the live facts of the users it holds."""
    rows = await db.fetchall(
        f"SELECT f.id FROM facts f WHERE {_LIVE} AND {_INDEXED}", (timeutil.to_db(timeutil.now()),)
    )
    return {r["id"] for r in rows}


async def other_model(db: Database, model_id: str) -> str | None:
    """A model, other than `model_id`, that made some stored vector."""
    row = await db.fetchone("SELECT model_id FROM fact_vectors WHERE model_id != ? LIMIT 1", (model_id,))
    return None if row is None else row["model_id"]


async def to_embed(db: Database, model_id: str) -> list[tuple[str, str]]:
    """(id, content) of facts whose vector is missing or was made by another model."""
    rows = await db.fetchall(
        "SELECT f.id, f.content FROM facts f JOIN fact_vectors v ON v.fact_id = f.id WHERE v.model_id != ? "
        "UNION ALL SELECT f.id, f.content FROM facts f WHERE NOT EXISTS "
        "(SELECT 1 FROM fact_vectors v WHERE v.fact_id = f.id)",
        (model_id,),
    )
    return [(r["id"], r["content"]) for r in rows]


async def put(conn: Connection, rows: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """Store (fact id, model id, vector) rows, replacing a fact's old vector."""
    await conn.executemany(
        "INSERT INTO fact_vectors (fact_id, model_id, vector) VALUES (?, ?, ?) "
        "ON CONFLICT (fact_id) DO UPDATE SET model_id = excluded.model_id, vector = excluded.vector",
        [(fact_id, model, blob(vector)) for fact_id, model, vector in rows],
    )


def blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """Rows of float32 vectors; (0, 0) when there are none (a remote model's size may not be known yet)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
