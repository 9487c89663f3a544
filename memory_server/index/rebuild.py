"""`memory-server reindex`: rebuild the vector indexes from SQLite, re-embedding only vectors of another model.

An embedded index Chroma cannot open or empty (a corrupt or truncated file) is moved aside and made anew: it is a
copy, and reindex is how an operator gets a usable one back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from memory_server.context import Core
from memory_server.index.chroma import IndexUnavailable, set_aside
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import vectors as vectorsql

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


async def reindex(core: Core, progress: Progress | None = None, batch: int = 256) -> int:
    """Empty the indexes, re-embed stale fact vectors, queue every fact and episode and replay (the replay
    embeds episodes whose vector is missing or of another model, and indexes the users the index holds); return
    how many live facts and episodes are searchable."""
    await _empty(core)
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
            await core.vectors.flush(strict=True)
            done += len(chunk)
            if progress:
                progress(done, total)
    return await factsql.count_live(core.db) + len(episode_ids)


async def _empty(core: Core) -> None:
    """Empty both indexes; an embedded one that cannot be used is replaced (a Chroma server's failure is the
    server's to fix: it is raised)."""
    try:
        await core.index.reset()
        await core.episodes.reset()
    except IndexUnavailable as exc:
        location = core.settings.chroma_location
        if not isinstance(location, Path):
            raise
        await _replace(core, location, exc.__cause__ or exc)


async def _replace(core: Core, location: Path, cause: BaseException) -> None:
    """Let go of the index, move its directory aside and make a new, empty one in its place."""
    for index in (core.index, core.episodes):
        await index.close()
    moved = await asyncio.to_thread(set_aside, location)
    if moved is not None:
        log.warning(
            "the vector index in %s cannot be used (%s: %s): moved it to %s; building a new one from the database",
            location,
            type(cause).__name__,
            cause,
            moved,
        )
    await core.index.reset()
    await core.episodes.reset()
