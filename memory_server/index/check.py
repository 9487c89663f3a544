"""`memory-server check`: does the vector index hold exactly what SQLite says it should?

SQLite is the truth and the index a copy kept in line through the `vector_ops` outbox. A crash between
commit and flush, a hand-edited index or a bug can still leave the copy wrong, and a wrong copy shows up
only as a search that misses. This walks the whole index once and compares every entry with its fact:
missing (a live fact the index lacks), orphan (an entry with no live fact), stale (an entry whose vector
or tenant/user/kind differs), and pending (queued operations not yet applied). Repair queues every
disagreeing id and replays the outbox, so it fixes exactly what the normal path would have.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from memory_server.context import Core
from memory_server.store import vectors

_PAGE = 1_000
_SAMPLE = 20


class IndexReport(BaseModel):
    """Counts of each disagreement, with up to 20 example fact ids of each."""

    live_facts: int
    indexed: int
    missing: int = 0
    orphan: int = 0
    stale: int = 0
    pending: int = 0
    examples: dict[str, list[str]] = Field(default_factory=dict)
    repaired: int | None = Field(None, description="Ids queued and replayed, when repair was asked for.")

    @property
    def consistent(self) -> bool:
        return not (self.missing or self.orphan or self.stale or self.pending)


async def check(core: Core) -> tuple[IndexReport, list[str]]:
    """The report, and every id that disagrees."""
    live = await vectors.live_ids(core.db)
    seen: set[str] = set()
    orphan, stale = [], []
    offset = 0
    while page := await core.index.scan(offset, _PAGE):
        offset += len(page)
        truth = {item.id: item for item in await vectors.indexable(core.db, [e.id for e in page])}
        for entry in page:
            seen.add(entry.id)
            fact = truth.get(entry.id)
            if fact is None:
                orphan.append(entry.id)
            elif (entry.tenant_id, entry.user_id, entry.kind) != (fact.tenant_id, fact.user_id, fact.kind) or not (
                entry.vector.shape == fact.vector.shape and np.allclose(entry.vector, fact.vector, atol=1e-5)
            ):
                stale.append(entry.id)
    missing = sorted(live - seen)
    report = IndexReport(
        live_facts=len(live),
        indexed=len(seen),
        missing=len(missing),
        orphan=len(orphan),
        stale=len(stale),
        pending=await vectors.pending(core.db),
        examples={
            name: ids[:_SAMPLE] for name, ids in (("missing", missing), ("orphan", orphan), ("stale", stale)) if ids
        },
    )
    return report, [*missing, *orphan, *stale]


async def check_and_repair(core: Core, repair: bool) -> IndexReport:
    """Check; with `repair`, requeue what disagrees, replay the outbox, and report what is left."""
    report, wrong = await check(core)
    if not repair or report.consistent:
        return report
    await vectors.requeue(core.db, wrong)
    await core.vectors.flush()
    after, _ = await check(core)
    return after.model_copy(update={"repaired": len(wrong) + report.pending})
