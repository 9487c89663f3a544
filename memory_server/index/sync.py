"""Keeping the indexes in line with SQLite: apply the `vector_ops` outbox after writes, on the workers' tick and at
start-up.

A queued fact that is live is upserted with the vector SQLite holds; anything else is removed. A queued
message that is an episode is embedded first if it has no vector of the current model (its vector is
stored in SQLite, then indexed); a deleted one is removed. All of it is idempotent, so replaying an
operation a crash interrupted does no harm.

After a write, episodes are only embedded: search scores a user's episodes from SQLite, and the episodes'
index serves only users with more than `search.exact_max_facts` of them, so their index operations wait
for a batch (or the workers' idle tick) instead of costing a Chroma write (~40-50 ms) on every request. The same
holds for the facts of users the index does not hold: an extraction job flushes only for a user the index serves,
and embeds its own messages outside the flush's lock, so sixteen jobs never queue behind one another's flush.

An index that cannot be used (a corrupt file, a Chroma server down) fails no write: the flush logs it and leaves the
operations queued for the next one, and search scores exactly meanwhile (`chroma.nearest`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import numpy as np

from memory_server.index.chroma import IndexUnavailable, VectorIndex
from memory_server.index.embedders import Embedder, EmbedderError
from memory_server.store import episodes, indexed, vectors
from memory_server.store.db import Database, Row
from memory_server.throttle import Throttle

log = logging.getLogger(__name__)

#: Entries written to the index at a time when a user is filled.
FILL_BATCH = 1_000


class VectorSync:
    """Applies queued vector operations; one flush at a time, across the processes sharing a database too (a flush
    reads a fact, then writes the index: two at once could leave an older reading last).

    Writers that ask for a flush while one runs share the next one: it starts after each of them committed, so
    it applies their operations too, and sixteen extraction jobs finishing together wait for one or two flushes
    instead of sixteen in a row.
    """

    def __init__(
        self, db: Database, embedder: Embedder, facts: VectorIndex, episodes_index: VectorIndex, batch: int = 256
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.facts = facts
        self.episodes = episodes_index
        self.batch = batch
        self._started = 0  # flushes begun by this process (each under the lock, so one at a time)
        self._finished = 0  # the number of the last one that completed
        self._embedding: dict[int, asyncio.Future[None]] = {}  # message id -> done when the task embedding it is
        self._failures = Throttle()  # flushes the index failed (the workers retry every tick): logged once a minute

    async def flush(self, *, index_episodes: bool = True, strict: bool = False) -> int:
        """Bring the indexes in line with SQLite for every queued id; return how many were applied.

        Without `index_episodes`, queued episodes are embedded into SQLite now and indexed once a batch of
        them is waiting. An index that cannot be used is logged, or raised with `strict` (an operator's command
        must not report a rebuild or repair that did not happen).
        """
        applied = 0
        needed = self._started + 1  # the first flush to start from now on sees everything committed before now
        await self._embed_queued()  # before the lock: embedding takes milliseconds a message, and needs no order
        async with self.db.exclusive("vector-outbox"):
            if not index_episodes and self._finished >= needed:
                return 0
            self._started += 1
            number = self._started
            index_episodes = index_episodes or await vectors.queued_messages(self.db) >= self.batch
            try:
                while (queued := await vectors.queued(self.db, self.batch, messages=index_episodes)) is not None:
                    last, fact_ids, message_ids = queued
                    if fact_ids:
                        await self._facts(fact_ids)
                    if message_ids:
                        try:
                            await self._episodes(message_ids)
                        except EmbedderError as exc:  # the embedder is down: keep them queued for the next flush
                            log.warning("episodes stay queued until the embedder answers: %s", exc)
                            break
                    await vectors.done(self.db, last, messages=index_episodes)
                    applied += len(fact_ids) + len(message_ids)
                await self._fill()
            except IndexUnavailable as exc:  # the writes committed: their operations wait, queued, for the index
                if strict:
                    raise
                if self._failures.due():
                    log.error("vector operations stay queued until the index can be used: %s", exc)
            else:
                self._failures.reset()
            self._finished = number
        if applied >= 10 * self.batch:
            log.info("vector outbox: %d operations applied", applied)
        return applied

    async def embed_messages(self, message_ids: Sequence[int], also: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Store vectors for the episodes among `message_ids` that lack one, leaving their index operations queued;
        return once each is stored (or its embedding failed), by this call or another one of this process.

        Outside the flush's lock: a message's text never changes, so its vector is the same whoever stores it,
        and an extraction job embeds its own request's messages this way while other jobs run theirs. `also` (the
        job's candidate facts, or what its user said) is embedded in the same model call, most of whose cost for a
        few short texts is fixed; their vectors are returned by text, or none when the embedder failed (the caller
        then embeds them itself and meets the error).
        """
        try:
            return await self._embed_lacking(message_ids, also)
        except EmbedderError as exc:
            log.warning("episodes stay queued until the embedder answers: %s", exc)
            return {}

    async def _embed_lacking(self, message_ids: Sequence[int], also: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Store vectors for the episodes among `message_ids` that lack one (waiting for those another task embeds);
        return the vectors of `also`, embedded in the same call."""
        lacking = await episodes.lacking_vectors(self.db, message_ids, self.embedder.model_id)
        _, made = await self._embed_once(lacking, wait=True, also=also)
        return made

    async def _embed_queued(self) -> None:
        """Store vectors for queued episodes that lack one and that no other task is embedding (their jobs embed
        most of them first), leaving their index operations queued."""
        while rows := await episodes.to_embed(self.db, self.embedder.model_id, self.batch):
            try:
                embedded, _ = await self._embed_once(rows, wait=False)
            except EmbedderError as exc:
                log.warning("episodes stay queued until the embedder answers: %s", exc)
                return
            if not embedded:
                return

    async def _embed_once(
        self, rows: Sequence[Row], *, wait: bool, also: Sequence[str] = ()
    ) -> tuple[int, dict[str, np.ndarray]]:
        """Embed and store the rows no other task of this process is embedding, and `also`; with `wait`, also wait
        for the rows others are embedding. Returns how many rows this call embedded, and the vectors of `also`."""
        mine = [r for r in rows if r["id"] not in self._embedding]
        others = {self._embedding[r["id"]] for r in rows if r["id"] in self._embedding}
        made: dict[str, np.ndarray] = {}
        if mine or also:
            finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._embedding.update((r["id"], finished) for r in mine)
            try:
                _, made = await self._embed(mine, also)
            finally:
                for r in mine:
                    del self._embedding[r["id"]]
                finished.set_result(None)
        if wait and others:
            await asyncio.wait(others)  # not gather: a cancelled waiter must not cancel the others' future
        return len(mine), made

    async def _embed(
        self, rows: Sequence[Row], also: Sequence[str] = ()
    ) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
        """Embed the (id, content) rows of episodes and store their vectors, and embed `also` in the same call (a
        text that is also a row's content once); return the rows' vectors by message id and those of `also` by text."""
        contents = [r["content"] for r in rows]
        unique = set(contents)
        texts = [t for t in dict.fromkeys(also) if t not in unique]
        made = await self.embedder.embed(contents + texts)
        by_id = {r["id"]: v for r, v in zip(rows, made, strict=False)}
        if by_id:
            async with self.db.transaction() as conn:
                await episodes.put_vectors(conn, [(i, self.embedder.model_id, v) for i, v in by_id.items()])
        by_text = dict(zip(contents + texts, made, strict=True))
        return by_id, {t: by_text[t] for t in also}

    async def _facts(self, fact_ids: list[str]) -> None:
        if not await indexed.users(self.db, "facts"):  # nothing in the index to follow: leave it unopened
            return
        live = await vectors.indexable(self.db, fact_ids)
        live_ids = {item.id for item in live}
        await self.facts.upsert(live)
        await self.facts.delete([i for i in fact_ids if i not in live_ids])

    async def _episodes(self, message_ids: list[int]) -> None:
        """Every episode among them gets its vector in the database (search scores users outside the index from
        there), then the index follows the users it holds."""
        await self._embed_lacking(message_ids)
        if not await indexed.users(self.db, "episodes"):
            return
        rows = await episodes.for_index(self.db, message_ids)
        await self._index_episodes(rows)
        present = {r["id"] for r in rows}
        await self.episodes.delete([str(i) for i in message_ids if i not in present])

    async def _index_episodes(self, rows: Sequence[Row]) -> None:
        stale = [r for r in rows if r["model_id"] != self.embedder.model_id]
        made, _ = await self._embed(stale) if stale else ({}, {})
        await self.episodes.upsert([episodes.index_entry(r, made.get(r["id"])) for r in rows])

    async def _fill(self) -> None:
        """Put the users searches asked for into the index, each whole (whatever the index held of them first is
        dropped: it may predate their rows' last changes); a write meanwhile is queued and follows."""
        for tenant_id, user_id in await indexed.filling(self.db, "facts"):
            await self.facts.delete_user(tenant_id, user_id)
            entries = await vectors.indexable_of_user(self.db, tenant_id, user_id)
            for start in range(0, len(entries), FILL_BATCH):
                await self.facts.upsert(entries[start : start + FILL_BATCH])
            await indexed.mark_ready(self.db, tenant_id, user_id, "facts")
        for tenant_id, user_id in await indexed.filling(self.db, "episodes"):
            await self.episodes.delete_user(tenant_id, user_id)
            rows = await episodes.for_index_of_user(self.db, tenant_id, user_id)
            for start in range(0, len(rows), FILL_BATCH):
                await self._index_episodes(rows[start : start + FILL_BATCH])
            await indexed.mark_ready(self.db, tenant_id, user_id, "episodes")
