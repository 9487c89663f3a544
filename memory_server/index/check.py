"""`memory-server check`: do the vector indexes hold exactly what SQLite says they should?

SQLite is the truth and each index (facts, episodes) a copy kept in line through the `vector_ops`
outbox. A crash between commit and flush, a hand-edited index or a bug can still leave a copy wrong, and
a wrong copy shows up only as a search that misses. This walks each index once and compares every entry
with its row: missing (a live fact or an embedded episode the index lacks), orphan (an entry with no such
row), stale (an entry whose vector or tenant/user/kind differs), and pending (queued operations not yet
applied). The index holds only the users too large to score exactly (`store.indexed`): an entry of any other
user is an orphan. Repair drops orphans and queues every other disagreeing id and replays the outbox, so it fixes
exactly what the normal path would have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from memory_server.context import Core
from memory_server.index.chroma import VectorIndex
from memory_server.store import episodes as episodesql
from memory_server.store import vectors
from memory_server.store.vectors import IndexEntry

_PAGE = 1_000
_SAMPLE = 20


class FamilyReport(BaseModel):
    """One index's disagreements with SQLite, with up to 20 example ids of each."""

    indexed: int
    missing: int = 0
    orphan: int = 0
    stale: int = 0
    examples: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        return not (self.missing or self.orphan or self.stale)


class EpisodesReport(FamilyReport):
    embedded: int = Field(description="Episodes with a vector of the current model: what the index should hold.")


class IndexReport(FamilyReport):
    """The facts' index (top level, as before episodes existed), the episodes' index, and the outbox."""

    live_facts: int
    pending: int = 0
    episodes: EpisodesReport | None = None
    repaired: int | None = Field(None, description="Ids queued and replayed, when repair was asked for.")

    @property
    def consistent(self) -> bool:
        return super().consistent and not self.pending and (self.episodes is None or self.episodes.consistent)


@dataclass
class _Family:
    index: VectorIndex
    live: Callable[[], Awaitable[set[str]]]
    truth: Callable[[Sequence[str]], Awaitable[list[IndexEntry]]]
    requeue: Callable[[Sequence[str]], Awaitable[None]]


def _families(core: Core) -> tuple[_Family, _Family]:
    model = core.embedder.model_id

    async def live_episodes() -> set[str]:
        return {str(i) for i in await episodesql.embedded_ids(core.db, model)}

    async def episode_truth(ids: Sequence[str]) -> list[IndexEntry]:
        return await episodesql.indexable(core.db, [int(i) for i in ids if i.isdigit()], model)

    async def requeue_episodes(ids: Sequence[str]) -> None:
        await episodesql.requeue(core.db, [int(i) for i in ids if i.isdigit()])

    facts = _Family(
        core.index,
        lambda: vectors.live_ids(core.db),
        lambda ids: vectors.indexable(core.db, ids),
        lambda ids: vectors.requeue(core.db, ids),
    )
    return facts, _Family(core.episodes, live_episodes, episode_truth, requeue_episodes)


async def _walk(family: _Family) -> tuple[int, dict[str, list[str]], int]:
    """(entries seen, ids by disagreement, how many rows should be indexed)."""
    live = await family.live()
    seen: set[str] = set()
    orphan, stale = [], []
    offset = 0
    while page := await family.index.scan(offset, _PAGE):
        offset += len(page)
        truth = {item.id: item for item in await family.truth([e.id for e in page])}
        for entry in page:
            seen.add(entry.id)
            row = truth.get(entry.id)
            if row is None:
                orphan.append(entry.id)
            elif (entry.tenant_id, entry.user_id, entry.kind) != (row.tenant_id, row.user_id, row.kind) or not (
                entry.vector.shape == row.vector.shape and np.allclose(entry.vector, row.vector, atol=1e-5)
            ):
                stale.append(entry.id)
    missing = sorted(live - seen)
    return len(seen), {"missing": missing, "orphan": orphan, "stale": stale}, len(live)


def _counts(wrong: dict[str, list[str]]) -> dict:
    return {
        **{name: len(ids) for name, ids in wrong.items()},
        "examples": {name: ids[:_SAMPLE] for name, ids in wrong.items() if ids},
    }


async def check(core: Core) -> tuple[IndexReport, dict[str, list[str]], dict[str, list[str]]]:
    """The report, and the fact ids and episode ids that disagree, by disagreement."""
    facts, episodes = _families(core)
    seen, wrong, live = await _walk(facts)
    episodes_seen, episodes_wrong, embedded = await _walk(episodes)
    report = IndexReport(
        live_facts=live,
        indexed=seen,
        pending=await vectors.pending(core.db),
        episodes=EpisodesReport(embedded=embedded, indexed=episodes_seen, **_counts(episodes_wrong)),
        **_counts(wrong),
    )
    return report, wrong, episodes_wrong


async def check_and_repair(core: Core, repair: bool) -> IndexReport:
    """Check; with `repair`, drop the orphans from the index, requeue what is missing or stale, replay the outbox,
    and report what is left. Orphans go directly: the outbox leaves alone the entries of users it does not index
    (an index from before only large users were indexed holds everyone)."""
    report, wrong_facts, wrong_episodes = await check(core)
    if not repair or report.consistent:
        return report
    repaired = report.pending
    for family, wrong in zip(_families(core), (wrong_facts, wrong_episodes), strict=True):
        await family.index.delete(wrong["orphan"])
        await family.requeue([*wrong["missing"], *wrong["stale"]])
        repaired += sum(len(ids) for ids in wrong.values())
    await core.vectors.flush()
    after, _, _ = await check(core)
    return after.model_copy(update={"repaired": repaired})
