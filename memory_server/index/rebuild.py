"""`memory-server reindex`: rebuild the vector index from SQLite, re-embedding only vectors of another model."""

from __future__ import annotations

from collections.abc import Callable

from memory_server.context import Core
from memory_server.store import facts as factsql
from memory_server.store import vectors as vectorsql

Progress = Callable[[int, int], None]


async def reindex(core: Core, progress: Progress | None = None, batch: int = 256) -> int:
    """Empty the index, re-embed stale vectors, queue every fact and replay; return the live facts indexed."""
    await core.index.reset()
    stale = await vectorsql.to_embed(core.db, core.embedder.model_id)
    ids = await factsql.all_ids(core.db)
    total = len(stale) + len(ids)
    done = 0
    for start in range(0, len(stale), batch):
        chunk = stale[start : start + batch]
        embedded = await core.embedder.embed([content for _, content in chunk])
        async with core.db.transaction() as conn:
            rows = [(fact_id, core.embedder.model_id, v) for (fact_id, _), v in zip(chunk, embedded, strict=True)]
            await vectorsql.put(conn, rows)
        done += len(chunk)
        if progress:
            progress(done, total)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        await vectorsql.requeue(core.db, chunk)
        await core.vectors.flush()
        done += len(chunk)
        if progress:
            progress(done, total)
    return await factsql.count_live(core.db)
