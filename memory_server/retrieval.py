"""Reading a user's memory: live facts and hybrid search over facts and episodes (the per-turn profile built on
them is `turn_profile`).

The per-user path never asks the vector index: it reads the user's live facts (and episode vectors) from
SQLite and scores them exactly. Only a user with more than `search.exact_max_facts` of either goes
through the approximate index, and then only to pick candidates (while the index cannot answer, every one is
scored exactly: slower, but the database holds everything to answer right). Facts and episodes are scored by one
method (`search`), so they rank together and one threshold filters both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from memory_server import episodes, search, timeutil
from memory_server.config import ExtractionConfig
from memory_server.context import Core, Scope
from memory_server.cpu import off_loop
from memory_server.errors import InvalidInput, NotFound
from memory_server.index.chroma import nearest
from memory_server.models import (
    Episode,
    Fact,
    Page,
    SearchHit,
    SearchResults,
)
from memory_server.schemas import FactFilter, SearchIn
from memory_server.store import facts as factsql
from memory_server.store import indexed as indexedsql
from memory_server.store import vectors
from memory_server.store.db import Row

BIG = 500  # facts above which CPU work leaves the loop (~5 ms of scoring or token counting; a hand-off ~0.1 ms)


@dataclass
class LiveFacts:
    facts: list[Fact]
    matrix: np.ndarray  # one row per fact; empty (0, dim) when vectors were not asked for


async def live_facts(
    core: Core,
    tenant_id: str,
    user_id: str,
    *,
    with_vectors: bool,
    kind: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> LiveFacts:
    """The user's active, unexpired facts, newest first."""
    rows = await factsql.live_rows(
        core.db, tenant_id, user_id, with_vectors=with_vectors, kind=kind, source=source, since=since, until=until
    )
    return await off_loop(len(rows) > BIG, _to_live, rows, with_vectors)


def _to_live(rows: Sequence[Row], with_vectors: bool) -> LiveFacts:
    blobs = [r["vector"] for r in rows] if with_vectors else []
    return LiveFacts([factsql.to_fact(r) for r in rows], vectors.matrix(blobs))


def check_top_k(core: Core, top_k: int | None) -> int:
    k = top_k or core.settings.search.default_top_k
    if k > core.settings.limits.max_top_k:
        raise InvalidInput(f"top_k: at most {core.settings.limits.max_top_k}", field="top_k")
    return k


async def score(
    core: Core,
    scope: Scope,
    live: LiveFacts,
    user_id: str,
    query: str,
    embedding: asyncio.Future[np.ndarray],
    *,
    exact: bool = False,
    wanted: int = 0,
) -> np.ndarray:
    """Hybrid score of every live fact against the query (0 for facts outside the index's candidates, which are
    at least `wanted` and `search.exact_max_facts`). `exact`: `live` was filtered (kind, source, time, attributes),
    so the index's nearest of all the user's facts may hold none of it: every one is scored. `embedding` (the
    query's, as a one-row matrix) is awaited once the keyword shares are known, when it can."""
    weight = core.settings.search.keyword_weight
    limit = core.settings.search.exact_max_facts
    near = None  # scored exactly until the index holds the user (the next flush puts them in) or when it fails
    if not exact and len(live.facts) > limit and await indexedsql.serves(core.db, scope.space, user_id, "facts"):
        near = await nearest(core.index, (await embedding)[0], scope.space, user_id, max(wanted, limit))
    if near is None:
        big = len(live.facts) > BIG
        keyword = await off_loop(big, search.keyword_scores, query, [f.content for f in live.facts])
        query_vector = (await embedding)[0]
        return await off_loop(big, search.fused, query_vector, live.matrix, keyword, weight)
    query_vector = (await embedding)[0]
    hits = {i for i, _ in near}
    keep = np.array([f.id in hits for f in live.facts])
    scores = np.zeros(len(live.facts), dtype=np.float32)
    if keep.any():
        chosen = [f.content for f, k in zip(live.facts, keep, strict=True) if k]
        matrix = live.matrix[keep]
        scores[keep] = await off_loop(
            len(chosen) > BIG, search.hybrid_scores, query, query_vector, chosen, matrix, weight
        )
    return scores


def _fact_hit(fact: Fact, value: float) -> SearchHit:
    return SearchHit(
        id=fact.id,
        type="fact",
        content=fact.content,
        kind=fact.kind,
        score=round(float(value), 4),
        source=fact.source,
        attributes=fact.attributes,
        created_at=fact.created_at,
        updated_at=fact.updated_at,
        expires_at=fact.expires_at,
        message_ids=fact.message_ids,
        request_id=fact.request_id,
    )


def _episode_hit(episode: Episode, value: float, query: str) -> SearchHit:
    return SearchHit(
        id=str(episode.message_id),
        type="episode",
        content=episode.content,
        score=round(float(value), 4),
        source=episode.source,
        attributes=episode.attributes,
        created_at=episode.created_at,
        message_id=episode.message_id,
        role=episode.role,
        session_id=episode.session_id,
        request_id=episode.request_id,
        snippet=search.snippet(episode.content, query),
    )


@dataclass
class Ask:
    """One search as the service runs it, whichever door asked (search, profile, delete by meaning)."""

    user_id: str
    query: str
    top_k: int | None = None
    threshold: float | None = None
    types: Sequence[str] = ("facts", "episodes")
    roles: Sequence[str] | None = None
    kind: str | None = None
    source: str | None = None
    attributes: dict | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Found:
    """What a search found: the results as returned, the facts and episodes behind them, and the score of
    every live fact searched (the profile orders its facts by it)."""

    results: SearchResults
    facts: list[Fact]
    episodes: list[Episode]
    live: LiveFacts
    fact_scores: np.ndarray


def _episode_wanted(episode: Episode, ask: Ask) -> bool:
    at = timeutil.as_utc(episode.created_at)
    return (
        (ask.source is None or episode.source == ask.source)
        and (ask.since is None or at >= timeutil.as_utc(ask.since))
        and (ask.until is None or at <= timeutil.as_utc(ask.until))
        and attributes_match(episode.attributes, ask.attributes)
    )


def attributes_match(have: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """Every wanted key equals the stored value (or is contained in it when the stored value is a list)."""
    for key, value in (wanted or {}).items():
        stored = have.get(key)
        if stored != value and not (isinstance(stored, list) and value in stored):
            return False
    return True


def _collapse(ranked: list[tuple[float, int, int]], facts: Sequence[Fact]) -> list[tuple[float, int, int]]:
    """Drop a result that repeats a better one: an episode a higher fact was extracted from, or a fact
    extracted from a higher episode (the first says it already, and the slot goes to something new). Facts
    extracted from one message are different things it said: each keeps its place."""
    shown_episodes: set[int] = set()
    sources_of_shown_facts: set[int] = set()
    kept = []
    for value, kind, ref in ranked:
        if kind == 0:
            sources = set(facts[ref].message_ids)
            if sources and sources <= shown_episodes:
                continue
            sources_of_shown_facts |= sources
        elif ref in sources_of_shown_facts:
            continue
        else:
            shown_episodes.add(ref)
        kept.append((value, kind, ref))
    return kept


async def find(core: Core, scope: Scope, ask: Ask, *, collapse: bool = True) -> Found:
    """Facts and episodes ranked together on one score; the best `top_k` at or above the threshold. With
    `collapse`, a fact and the message it came from take one place (the better ranked of the two)."""
    started = time.perf_counter()
    k = check_top_k(core, ask.top_k)
    floor = core.settings.search.default_threshold if ask.threshold is None else ask.threshold
    _, config = await core.configs.active(scope.space)
    # The query is embedded (in a thread) while the user's facts and episodes are read from SQLite.
    embedding = asyncio.ensure_future(core.embedder.embed([ask.query]))
    try:
        ranked, live, fact_scores, episodes_by_id = await _rank(core, scope, ask, config, embedding, k, floor)
    finally:
        if not embedding.done():
            embedding.cancel()
        elif not embedding.cancelled():
            embedding.exception()  # mark it retrieved: an error has already been raised through `await`
    ranked.sort(key=lambda r: (-r[0], r[1]))
    ranked = (_collapse(ranked, live.facts) if collapse else ranked)[:k]
    hits = [
        _fact_hit(live.facts[ref], value) if kind == 0 else _episode_hit(episodes_by_id[ref], value, ask.query)
        for value, kind, ref in ranked
    ]
    results = SearchResults(results=hits, total=len(hits), timing=round((time.perf_counter() - started) * 1000, 3))
    return Found(
        results=results,
        facts=[live.facts[ref] for _, kind, ref in ranked if kind == 0],
        episodes=[episodes_by_id[ref] for _, kind, ref in ranked if kind == 1],
        live=live,
        fact_scores=fact_scores,
    )


async def _rank(
    core: Core,
    scope: Scope,
    ask: Ask,
    config: ExtractionConfig,
    embedding: asyncio.Future[np.ndarray],
    k: int,
    floor: float,
) -> tuple[list[tuple[float, int, int]], LiveFacts, np.ndarray, dict[int, Episode]]:
    """Each type's best candidates as (score, 0 fact / 1 episode, index or message id). Facts and episodes are
    read and keyword-scored side by side while the query is embedded; each waits for the embedding last."""
    wide = 2 * k  # each type's best, with room for what collapsing drops
    no_facts = (LiveFacts([], np.zeros((0, 0), dtype=np.float32)), np.zeros(0, dtype=np.float32))
    with_episodes = "episodes" in ask.types and ask.kind is None and config.episodes.enabled
    # gather raises the first error as it is; the other part, read-only, may finish unobserved
    (live, fact_scores), (kept, episodes_by_id) = await asyncio.gather(
        _rank_facts(core, scope, ask, embedding, wide) if "facts" in ask.types else _given(no_facts),
        _rank_episodes(core, scope, ask, config, embedding, wide, floor) if with_episodes else _given(([], {})),
    )
    ranked = [(v, 1, i) for v, i in kept]
    ranked.extend((float(fact_scores[i]), 0, i) for i in search.top_indexes(fact_scores, wide, floor))
    return ranked, live, fact_scores, episodes_by_id


async def _given(value: Any) -> Any:
    return value


async def _rank_facts(
    core: Core, scope: Scope, ask: Ask, embedding: asyncio.Future[np.ndarray], wide: int
) -> tuple[LiveFacts, np.ndarray]:
    live = await live_facts(
        core,
        scope.space,
        ask.user_id,
        with_vectors=True,
        kind=ask.kind,
        source=ask.source,
        since=ask.since,
        until=ask.until,
    )
    if ask.attributes:
        keep = np.array([attributes_match(f.attributes, ask.attributes) for f in live.facts], bool)
        live = LiveFacts([f for f, k_ in zip(live.facts, keep, strict=True) if k_], live.matrix[keep])
    filtered = _filtered(ask) or ask.kind is not None
    return live, await score(core, scope, live, ask.user_id, ask.query, embedding, exact=filtered, wanted=wide)


async def _rank_episodes(
    core: Core,
    scope: Scope,
    ask: Ask,
    config: ExtractionConfig,
    embedding: asyncio.Future[np.ndarray],
    wide: int,
    floor: float,
) -> tuple[list[tuple[float, int]], dict[int, Episode]]:
    roles = list(ask.roles or config.episodes.search_roles)
    filtered = _filtered(ask)
    scored = await episodes.score(core, scope, ask.user_id, ask.query, embedding, roles, exact=filtered)
    best = sorted(((v, i) for i, v in scored.items() if v >= floor), key=lambda p: (-p[0], p[1]))
    episodes_by_id = await episodes.details(core, scope, [i for _, i in (best if filtered else best[:wide])])
    kept = [(v, i) for v, i in best if i in episodes_by_id and _episode_wanted(episodes_by_id[i], ask)]
    return kept[:wide], episodes_by_id


def _filtered(ask: Ask) -> bool:
    """Whether the search keeps only some of the user's memories (by source, time or attributes)."""
    return any(x is not None for x in (ask.source, ask.since, ask.until)) or bool(ask.attributes)


async def run_search(core: Core, scope: Scope, body: SearchIn) -> Found:
    check_top_k(core, body.top_k)
    return await find(core, scope, Ask(**body.model_dump()))


def effective(fact: Fact) -> Fact:
    """An active fact past its expiry reads as expired even before the sweeper marks it."""
    if fact.status == "active" and fact.expires_at is not None and fact.expires_at <= timeutil.now():
        return fact.model_copy(update={"status": "expired"})
    return fact


async def get_fact(core: Core, tenant_id: str, fact_id: str) -> Fact:
    fact = await factsql.get(core.db, tenant_id, fact_id)
    if fact is None:
        raise NotFound(f"fact_id: no fact {fact_id}", field="fact_id")
    return effective(fact)


async def live_fact_saying(core: Core, tenant_id: str, user_id: str, content: str) -> Fact:
    fact = await factsql.live_by_content(core.db, tenant_id, user_id, content)
    if fact is None:
        raise NotFound(f"content: no live fact of user {user_id} says this", field="content")
    return fact


async def fact_page(core: Core, tenant_id: str, user_id: str, flt: FactFilter) -> Page[Fact]:
    """One user's facts, newest first; status 'active' means live (not yet expired)."""
    found, cursor = await factsql.page(
        core.db,
        tenant_id,
        user_id,
        status=flt.status,
        kind=flt.kind,
        source=flt.source,
        cursor=None if flt.cursor is None else int(flt.cursor),
        limit=flt.limit,
    )
    return Page[Fact](items=[effective(f) for f in found], next_cursor=None if cursor is None else str(cursor))
