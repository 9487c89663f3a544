"""Episodes: the stored messages of the configured roles, searchable by meaning and by keywords.

Dense scoring is exact over the user's own episode vectors, read from SQLite (the vector index only picks
candidates for a user with more than `search.exact_max_facts` episodes). Keywords go through FTS5 and its
`bm25()`, scoped to the user, normalised to 0..1 by the query's total IDF (see `keyword_share`). Both are
fused exactly like facts' scores (`search.fuse_many`), so one threshold means the same for either. An episode
that speaks of a day the question names explicitly is lifted (`DATE_LIFT`, see `memory_server.when`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from memory_server import search, signals, terms, timeutil, when
from memory_server.context import Core, Scope
from memory_server.cpu import off_loop
from memory_server.errors import NotFound
from memory_server.index.chroma import nearest
from memory_server.models import ChangeEventName, Episode, EpisodeRef, Page
from memory_server.schemas import EpisodeFilter
from memory_server.store import changelog as changesql
from memory_server.store import episodes as episodesql
from memory_server.store import fts, vectors
from memory_server.store import indexed as indexedsql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Row

RETENTION_ACTOR = "system:retention"
KEYWORD_CANDIDATES = 100
#: How far an episode that speaks of a day the question names ("on March 2") moves towards a perfect score.
DATE_LIFT = 0.7


def keyword_share(bm25: float, total_idf: float) -> float:
    """BM25 as a share of the query's total IDF: a message of average length holding every query term once
    scores 1 (FTS5's bm25 then equals the sum of the terms' IDF); longer or partial matches score less."""
    return 0.0 if total_idf <= 0 else min(1.0, bm25 / total_idf)


async def _keyword(core: Core, tenant_id: str, user_id: str, query: str, roles: Sequence[str]) -> dict[int, float]:
    """Message id -> keyword share, for the user's episodes matching any term of the query."""
    chosen = terms.query_words(query)
    if not chosen:
        return {}
    rows, docs = await core.term_counts.get(list(chosen), lambda stems: fts.term_documents(core.db, stems))
    idf = {t: max(1e-6, math.log((rows - docs.get(t, 0) + 0.5) / (docs.get(t, 0) + 0.5))) for t in chosen}
    hits = await fts.keyword(core.db, tenant_id, user_id, chosen, idf, roles, KEYWORD_CANDIDATES)
    total = sum(idf.values())
    return {message_id: keyword_share(score, total) for message_id, score in hits}


async def score(
    core: Core,
    scope: Scope,
    user_id: str,
    query: str,
    embedding: asyncio.Future[np.ndarray],
    roles: Sequence[str],
    *,
    exact: bool = False,
) -> dict[int, float]:
    """Message id -> fused score for the user's episodes of `roles`: every one scored exactly, or for a user
    with more than `search.exact_max_facts` episodes (unless `exact`: a filtered search, whose matches the index's
    nearest may not hold), the index's nearest plus the keyword matches and the messages on a day the query names.
    `embedding` (the query's, as a one-row matrix) is awaited only once the rows are read."""
    if not roles:
        return {}
    keyword = await _keyword(core, scope.space, user_id, query, roles)
    weight = core.settings.search.episode_keyword_weight
    wanted = core.settings.search.exact_max_facts
    days = when.query_tokens(query)
    dated = await fts.on_dates(core.db, scope.space, user_id, days, roles) if days else set()
    near = None
    if (
        not exact
        and await episodesql.more_than(core.db, scope.space, user_id, wanted)
        and await indexedsql.serves(core.db, scope.space, user_id, "episodes")
    ):
        near = await nearest(core.episodes, (await embedding)[0], scope.space, user_id, wanted, roles)
    if near is None:  # not served by the index, or it cannot answer: every episode, scored exactly
        rows = await episodesql.vectors_of_user(core.db, scope.space, user_id, roles)
    else:
        candidates = {int(i) for i, _ in near} | set(keyword) | dated
        rows = await episodesql.vectors_by_id(core.db, scope.space, list(candidates))
    query_vector = (await embedding)[0]
    if not rows:
        return {}
    ids, fused = await off_loop(len(rows) > 2_000, _exact, rows, query_vector, keyword, weight)
    scored = dict(zip(ids, fused, strict=True))
    for message_id in dated & scored.keys():
        scored[message_id] += DATE_LIFT * (1.0 - scored[message_id])
    return scored


def _exact(
    rows: Sequence[Row], query_vector: np.ndarray, keyword: dict[int, float], weight: float
) -> tuple[list[int], list[float]]:
    ids = [r["id"] for r in rows]
    cosine = vectors.matrix([r["vector"] for r in rows]) @ query_vector
    shares = np.array([keyword.get(i, 0.0) for i in ids], dtype=np.float32)
    return ids, search.fuse_many(cosine, shares, weight).tolist()


async def details(core: Core, scope: Scope, message_ids: Sequence[int]) -> dict[int, Episode]:
    return await episodesql.get_many(core.db, scope.space, message_ids)


async def get(core: Core, scope: Scope, message_id: int) -> Episode:
    found = await details(core, scope, [message_id])
    if message_id not in found:
        raise NotFound(f"message_id: no episode {message_id}", field="message_id")
    return found[message_id]


async def page(core: Core, scope: Scope, user_id: str, flt: EpisodeFilter) -> Page[Episode]:
    items, cursor = await episodesql.page(
        core.db,
        scope.space,
        user_id,
        roles=flt.roles,
        session_id=flt.session_id,
        cursor=None if flt.cursor is None else int(flt.cursor),
        limit=flt.limit,
    )
    return Page[Episode](items=items, next_cursor=None if cursor is None else str(cursor))


async def delete(
    core: Core, scope: Scope, user_id: str, message_ids: Sequence[int], *, event: ChangeEventName = "episode_delete"
) -> list[Episode]:
    """Delete the user's episodes (their messages, keyword rows, vectors and signals) and log each, without its
    text; the user's aggregates are recomputed without them."""
    now = timeutil.now()
    _, config = await core.configs.active(scope.space)
    async with core.db.transaction() as conn:
        gone = await episodesql.remove(conn, scope.space, user_id, message_ids)
        if gone:
            await signals.refresh(core, conn, scope.space, user_id, config)
        for episode in gone:
            ref = EpisodeRef.model_validate(episode, from_attributes=True)
            await changesql.record(
                conn,
                ChangeEvent(event, scope.space, user_id, scope.actor, now, before=ref, message_id=episode.message_id),
            )
    await core.vectors.flush(index_episodes=False)
    return gone


async def sweep(core: Core, batch: int = 500) -> int:
    """Delete episodes older than their space's `episodes.retention_days`; return how many went."""
    removed = 0
    for space in await episodesql.tenants(core.db):
        _, config = await core.configs.active(space)
        days = config.episodes.retention_days
        if days is None:
            continue
        before = timeutil.now() - timedelta(days=days)
        due = await episodesql.older_than(core.db, space, before, batch)
        by_user: dict[str, list[int]] = {}
        for user_id, message_id in due:
            by_user.setdefault(user_id, []).append(message_id)
        scope = Scope.of_space(space, RETENTION_ACTOR)
        for user_id, ids in by_user.items():
            async with core.user_lock(space, user_id):
                removed += len(await delete(core, scope, user_id, ids, event="episode_expire"))
    return removed
