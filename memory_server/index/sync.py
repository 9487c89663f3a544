"""Keeping the index in line with SQLite: apply the `vector_ops` outbox after each commit and at start-up.

A queued fact that is live is upserted with the vector SQLite holds; anything else is removed. Both are
idempotent, so replaying an operation a crash interrupted does no harm.
"""

from __future__ import annotations

import asyncio

from memory_server.index.chroma import VectorIndex
from memory_server.store import vectors
from memory_server.store.db import Database


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
            while (queued := await vectors.queued(self.db, self.batch)) is not None:
                last, fact_ids = queued
                live = await vectors.indexable(self.db, fact_ids)
                live_ids = {item.id for item in live}
                await self.index.upsert(live)
                await self.index.delete([i for i in fact_ids if i not in live_ids])
                await vectors.done(self.db, last)
                applied += len(fact_ids)
        return applied
