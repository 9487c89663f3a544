"""The vector index: a rebuildable copy of the active facts' vectors, kept in line with SQLite.

SQLite holds every vector (table fact_vectors); the index only needs to answer nearest-neighbour
queries where scoring a user's facts exactly would be too slow. `sync_pending` applies the fact ids
queued in `vector_ops` (after each commit, and at start-up for anything a crash left behind): an active
fact is upserted, anything else is removed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from memory_server import timeutil
from memory_server.db import Database


@dataclass(frozen=True)
class VectorItem:
    id: str
    tenant_id: str
    user_id: str
    kind: str
    vector: np.ndarray


class VectorIndex(Protocol):
    """Nearest-neighbour index over fact vectors. Implementations must make upsert/delete idempotent."""

    async def upsert(self, items: Sequence[VectorItem]) -> None: ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def query(self, vector: np.ndarray, tenant_id: str, user_id: str, n: int) -> list[tuple[str, float]]:
        """Ids and cosine similarity of the user's nearest vectors, best first."""
        ...

    async def ids(self, tenant_id: str, user_id: str | None = None) -> set[str]: ...

    async def scan(self, offset: int, limit: int) -> list[VectorItem]:
        """A page of every entry with its vector and metadata, in a stable order (to verify the index)."""
        ...

    async def reset(self) -> None: ...


class ChromaIndex:
    """Chroma's embedded PersistentClient, telemetry off, one collection per embedding model."""

    def __init__(self, path: Path, model_id: str) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        self._name = collection_name(model_id)
        self._collection = self._open()

    def _open(self):
        return self._client.get_or_create_collection(
            self._name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    async def upsert(self, items: Sequence[VectorItem]) -> None:
        if not items:
            return
        await asyncio.to_thread(
            self._collection.upsert,
            ids=[i.id for i in items],
            embeddings=np.stack([i.vector for i in items]).astype(np.float32),
            metadatas=[{"tenant_id": i.tenant_id, "user_id": i.user_id, "kind": i.kind} for i in items],
        )

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await asyncio.to_thread(self._collection.delete, ids=list(ids))

    async def query(self, vector: np.ndarray, tenant_id: str, user_id: str, n: int) -> list[tuple[str, float]]:
        res = await asyncio.to_thread(
            self._collection.query,
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=n,
            where={"$and": [{"tenant_id": tenant_id}, {"user_id": user_id}]},
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    async def ids(self, tenant_id: str, user_id: str | None = None) -> set[str]:
        where: dict = {"tenant_id": tenant_id}
        if user_id is not None:
            where = {"$and": [where, {"user_id": user_id}]}
        res = await asyncio.to_thread(self._collection.get, where=where, include=[])
        return set(res["ids"])

    async def scan(self, offset: int, limit: int) -> list[VectorItem]:
        res = await asyncio.to_thread(
            self._collection.get, offset=offset, limit=limit, include=["embeddings", "metadatas"]
        )
        return [
            VectorItem(i, m.get("tenant_id", ""), m.get("user_id", ""), m.get("kind", ""), np.asarray(e, np.float32))
            for i, m, e in zip(res["ids"], res["metadatas"], res["embeddings"], strict=True)
        ]

    async def reset(self) -> None:
        def _reset() -> None:
            self._client.delete_collection(self._name)
            self._collection = self._open()

        await asyncio.to_thread(_reset)


def collection_name(model_id: str) -> str:
    """Chroma allows [a-zA-Z0-9._-], 3-512 characters, starting and ending alphanumeric."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("-._")
    return f"facts-{slug}"[:500]


async def indexable(db: Database, fact_ids: Sequence[str]) -> list[VectorItem]:
    """The live facts among `fact_ids`, as the index should hold them."""
    if not fact_ids:
        return []
    marks = ",".join("?" * len(fact_ids))
    rows = await db.fetchall(
        f"SELECT f.id, f.tenant_id, f.user_id, f.kind, v.vector FROM facts f "
        f"JOIN fact_vectors v ON v.fact_id = f.id WHERE f.id IN ({marks}) AND f.status = 'active' "
        f"AND (f.expires_at IS NULL OR f.expires_at > ?)",
        (*fact_ids, timeutil.to_db(timeutil.now())),
    )
    return [VectorItem(r[0], r[1], r[2], r[3], np.frombuffer(r[4], dtype=np.float32)) for r in rows]


async def live_ids(db: Database) -> set[str]:
    """Every fact the index should hold."""
    rows = await db.fetchall(
        "SELECT f.id FROM facts f WHERE f.status = 'active' AND (f.expires_at IS NULL OR f.expires_at > ?)",
        (timeutil.to_db(timeutil.now()),),
    )
    return {r[0] for r in rows}


async def pending(db: Database) -> int:
    """Queued vector operations not yet applied."""
    row = await db.fetchone("SELECT count(*) FROM vector_ops")
    return int(row[0]) if row else 0


async def requeue(db: Database, fact_ids: Sequence[str]) -> None:
    """Queue facts for the next flush, which brings their index entries in line with SQLite."""
    async with db.transaction() as conn:
        await conn.executemany("INSERT INTO vector_ops (fact_id) VALUES (?)", [(i,) for i in fact_ids])


class VectorSync:
    """Applies queued vector operations; one flush at a time."""

    def __init__(self, db: Database, index: VectorIndex, batch: int = 500) -> None:
        self.db = db
        self.index = index
        self.batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Bring the index in line with SQLite for every queued fact id; return how many were applied."""
        applied = 0
        async with self._lock:
            while True:
                ops = await self.db.fetchall("SELECT id, fact_id FROM vector_ops ORDER BY id LIMIT ?", (self.batch,))
                if not ops:
                    return applied
                fact_ids = sorted({row[1] for row in ops})
                live = await indexable(self.db, fact_ids)
                live_ids = {item.id for item in live}
                await self.index.upsert(live)
                await self.index.delete([i for i in fact_ids if i not in live_ids])
                async with self.db.transaction() as conn:
                    await conn.execute("DELETE FROM vector_ops WHERE id <= ?", (ops[-1][0],))
                applied += len(fact_ids)
