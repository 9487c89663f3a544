"""`memory-server reindex`: rebuild the vector indexes from SQLite, re-embedding only vectors of another model."""

from __future__ import annotations

from collections.abc import Callable

from memory_server.context import Core
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import vectors as vectorsql

Progress = Callable[[int, int], None]


async def reindex(core: Core, progress: Progress | None = None, batch: int = 256) -> int:
    """Empty the indexes, re-embed stale fact vectors, queue every fact and episode and replay (the replay
    embeds episodes whose vector is missing or of another model, and indexes the users the index holds); return
    how many live facts and episodes are searchable."""
    await core.index.reset()
    await core.episodes.reset()
    stale = await vectorsql.to_embed(core.db, core.embedder.model_id)
    ids = await factsql.all_ids(core.db)
    episode_ids = await episodesql.all_ids(core.db)
    total = len(stale) + len(ids) + len(episode_ids)
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
    for requeue, all_ids in ((vectorsql.requeue, ids), (episodesql.requeue, episode_ids)):
        for start in range(0, len(all_ids), batch):
            chunk = all_ids[start : start + batch]
            await requeue(core.db, chunk)
            await core.vectors.flush()
            done += len(chunk)
            if progress:
                progress(done, total)
    return await factsql.count_live(core.db) + len(episode_ids)
