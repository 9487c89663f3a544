"""Opening a deployment's parts in the order that keeps them consistent, and the checks made before serving.

The data directory is locked first (one embedded deployment per directory), the embedder is built before
anything opens (a bad setting stops there) and a local model is loaded before the first request would pay
for it; the vector operations a crash left pending are replayed before any read. Serving then refuses vectors
made by another embedding model.
"""

from __future__ import annotations

import logging

from memory_server.config import Settings
from memory_server.configstore import ConfigStore
from memory_server.context import Core
from memory_server.cpu import CpuPool
from memory_server.datalock import DataDirLock
from memory_server.errors import Conflict, InvalidInput, Misconfigured
from memory_server.extraction import check_config
from memory_server.index.chroma import ChromaIndex
from memory_server.index.embedders import create_embedder
from memory_server.index.sync import VectorSync
from memory_server.store import chores as choresql
from memory_server.store import episodes as episodesql
from memory_server.store import indexed as indexedsql
from memory_server.store import vectors as vectorsql
from memory_server.store.db import Database
from memory_server.webhook_delivery import WebhookDispatcher

log = logging.getLogger(__name__)

#: Index entries read, and deleted, per call when a start drops those of users the index does not serve.
SCAN_PAGE = 1000


async def open_core(settings: Settings, *, rebuilding: bool = False) -> tuple[Core, DataDirLock]:
    """Lock the data directory, migrate the database, open the index and replay pending vector operations; refuse
    (before any of them embeds with it) an embedder whose model did not make the stored vectors, and an index that
    cannot be used. `rebuilding` (reindex, which re-embeds the vectors and builds the index anew) refuses neither,
    nor replays."""
    try:  # the tenants' starting config: one no request could run with is refused before anything opens
        check_config(settings, settings.extraction)
    except InvalidInput as exc:
        raise Misconfigured(f"extraction.{exc.message}", field=f"extraction.{exc.field}") from None
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        embedder = create_embedder(settings.embedder)
        if getattr(embedder, "local", False):
            await embedder.embed(["warm-up"])
        db = settings.database()
        await db.open()
        try:
            await _share_the_index(db, settings)
            index = ChromaIndex(settings.chroma_location, embedder.model_id, "facts")
            episodes = ChromaIndex(settings.chroma_location, embedder.model_id, "episodes")
            core = Core(
                settings,
                db,
                embedder,
                index,
                episodes,
                VectorSync(db, embedder, index, episodes),
                CpuPool(settings.workers.cpu_processes),
                ConfigStore(db, settings.extraction),
                WebhookDispatcher(db, settings.webhooks, settings.workers.poll_seconds),
            )
            await core.retrievals.open(db)
            if not rebuilding:
                await refuse_other_model(core)
                await _refill_a_lost_index(core)
                await _drop_unindexed_users(core)
                await core.vectors.flush()
        except BaseException:
            await db.close()  # its thread would keep the process alive
            raise
    except BaseException:
        lock.release()
        raise
    return core, lock


async def _refill_a_lost_index(core: Core) -> None:
    """An empty collection that should hold users (its directory deleted, a new Chroma server) is filled again
    by the flush that follows; until each user is back in, their searches are scored exactly. One that cannot be
    read stops the start with what to run (IndexUnavailable): someone is there to run it, where a server started
    on it would search its users exactly and queue their index operations until they did."""
    for family, index in (("facts", core.index), ("episodes", core.episodes)):
        expected = await indexedsql.users(core.db, family)
        if expected and not await index.scan(0, 1):
            log.warning("the %s index is empty but holds %d users: filling it again", family, len(expected))
            await indexedsql.refill(core.db, family)


async def _drop_unindexed_users(core: Core) -> None:
    """Once, after m025 found an index from before m017: drop the entries of every user the index does not serve
    (it held everyone; a purge of any of them left their vectors there)."""
    if not await choresql.pending(core.db, choresql.DROP_UNINDEXED_USERS):
        return
    for family, index in (("facts", core.index), ("episodes", core.episodes)):
        served = await indexedsql.users(core.db, family)
        unserved, offset = [], 0
        while page := await index.scan(offset, SCAN_PAGE):
            offset += len(page)
            unserved += [e.id for e in page if (e.tenant_id, e.user_id) not in served]
        for start in range(0, len(unserved), SCAN_PAGE):
            await index.delete(unserved[start : start + SCAN_PAGE])
        log.warning(
            "the %s index held %d entries of users it does not serve (from before m017): dropped", family, len(unserved)
        )
    await choresql.done(core.db, choresql.DROP_UNINDEXED_USERS)


async def _share_the_index(db: Database, settings: Settings) -> None:
    """Refuse a process keeping its own embedded index of a shared database beside any other process: each would
    index only what its own flushes wrote, and searches would miss the rest without a word. Processes on a Chroma
    server hold the index lock shared, one with an embedded index holds it alone."""
    embedded = settings.index.url is None
    if not db.shared or await db.hold("vector-index", shared=not embedded):
        return
    if embedded:
        reason = "other processes already serve this database (with a Chroma server, or an embedded index)"
    else:
        reason = "a process already serves this database with its own embedded index (no index.url)"
    raise Misconfigured(
        f"index.url: {reason}; give every process the same Chroma server (index.url: http://host:8000), or run "
        "one process",
        field="index.url",
    )


async def refuse_other_model(core: Core) -> None:
    """Stored vectors of another model would be compared with this one's: wrong scores, silently."""
    model = core.embedder.model_id
    other = await vectorsql.other_model(core.db, model) or await episodesql.other_model(core.db, model)
    if other is not None:
        raise Conflict(
            f"stored vectors were made by {other}, but the embedder is now {model}: "
            "run `memory-server reindex` to re-embed them, or switch the embedder back"
        )
