"""Reading a user's memory: live facts, hybrid search and the per-turn profile.

The per-user path never asks the vector index: it reads the user's live facts and their vectors from
SQLite (one indexed range scan) and scores them exactly. Only a user with more live facts than
`search.exact_max_facts` goes through the approximate index, and then only to pick candidates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from extractors import tokens
from memory_server import search, timeutil
from memory_server.context import Core, Scope
from memory_server.cpu import off_loop
from memory_server.errors import InvalidInput, NotFound
from memory_server.models import Fact, Page, Profile, ProfileFact, ProfileResponse, SearchHit, SearchResults
from memory_server.schemas import FactFilter, ProfileIn, SearchIn
from memory_server.store import facts as factsql
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


async def score(core: Core, scope: Scope, live: LiveFacts, user_id: str, query: str) -> np.ndarray:
    """Hybrid score of every live fact against the query (0 for facts outside the index's candidates)."""
    query_vector = (await core.embedder.embed([query]))[0]
    weight = core.settings.search.keyword_weight
    if len(live.facts) <= core.settings.search.exact_max_facts:
        documents = [f.content for f in live.facts]
        return await off_loop(
            len(documents) > BIG, search.hybrid_scores, query, query_vector, documents, live.matrix, weight
        )
    wanted = core.settings.search.exact_max_facts
    hits = {i for i, _ in await core.index.query(query_vector, scope.tenant_id, user_id, wanted)}
    keep = np.array([f.id in hits for f in live.facts])
    scores = np.zeros(len(live.facts), dtype=np.float32)
    if keep.any():
        chosen = [f.content for f, k in zip(live.facts, keep, strict=True) if k]
        matrix = live.matrix[keep]
        scores[keep] = await off_loop(
            len(chosen) > BIG, search.hybrid_scores, query, query_vector, chosen, matrix, weight
        )
    return scores


def _hit(fact: Fact, value: float) -> SearchHit:
    return SearchHit(
        id=fact.id,
        content=fact.content,
        kind=fact.kind,
        score=round(float(value), 4),
        source=fact.source,
        attributes=fact.attributes,
        created_at=fact.created_at,
        updated_at=fact.updated_at,
        expires_at=fact.expires_at,
    )


async def _ranked(
    core: Core,
    scope: Scope,
    live: LiveFacts,
    user_id: str,
    query: str,
    top_k: int | None,
    threshold: float | None,
) -> tuple[np.ndarray, list[int], SearchResults]:
    """Scores of all live facts, the indexes of the results, and the results as returned."""
    started = time.perf_counter()
    k = check_top_k(core, top_k)
    floor = core.settings.search.default_threshold if threshold is None else threshold
    scores = await score(core, scope, live, user_id, query)
    chosen = search.top_indexes(scores, k, floor)
    results = SearchResults(
        results=[_hit(live.facts[i], scores[i]) for i in chosen],
        total=len(chosen),
        timing=round((time.perf_counter() - started) * 1000, 3),
    )
    return scores, chosen, results


async def run_search(core: Core, scope: Scope, body: SearchIn) -> tuple[list[Fact], SearchResults]:
    """Search one user's live facts; also return the matching facts for callers that act on them."""
    check_top_k(core, body.top_k)
    live = await live_facts(
        core,
        scope.tenant_id,
        body.user_id,
        with_vectors=True,
        kind=body.kind,
        source=body.source,
        since=body.since,
        until=body.until,
    )
    if body.attributes:
        keep = [factsql.attributes_match(f, body.attributes) for f in live.facts]
        live = LiveFacts([f for f, k_ in zip(live.facts, keep, strict=True) if k_], live.matrix[np.array(keep, bool)])
    _, chosen, results = await _ranked(core, scope, live, body.user_id, body.query, body.top_k, body.threshold)
    return [live.facts[i] for i in chosen], results


def _usefulness(fact: Fact, relevance: float, now: datetime) -> float:
    """Static facts by confidence; dynamic ones also by freshness; a query's relevance adds on top."""
    base = fact.confidence
    if fact.kind == "dynamic":
        age_days = max(0.0, (now - fact.updated_at).total_seconds() / 86_400)
        base *= 0.9 / (1.0 + age_days / 7)
    return base + 2.0 * relevance


def _trim(facts: Sequence[Fact], budget: int) -> tuple[list[Fact], int]:
    """Keep facts in the given order while their lines fit the token budget."""
    kept, used = [], 0
    for fact in facts:
        cost = tokens.count(f"- {fact.content}\n")
        if used + cost <= budget:
            kept.append(fact)
            used += cost
    return kept, used


async def profile(core: Core, scope: Scope, body: ProfileIn) -> ProfileResponse:
    relevance: dict[str, float] = {}
    results = None
    if body.q:
        check_top_k(core, body.top_k)
        live = await live_facts(core, scope.tenant_id, body.user_id, with_vectors=True)
        scores, _, results = await _ranked(core, scope, live, body.user_id, body.q, body.top_k, body.threshold)
        relevance = {f.id: float(s) for f, s in zip(live.facts, scores, strict=True)}
        found = live.facts
    else:
        found = (await live_facts(core, scope.tenant_id, body.user_id, with_vectors=False)).facts
    now = timeutil.now()
    ranked = sorted(found, key=lambda f: _usefulness(f, relevance.get(f.id, 0.0), now), reverse=True)
    used = None
    if body.max_tokens is not None:
        ranked, used = await off_loop(len(ranked) > BIG, _trim, ranked, body.max_tokens)
    view = [
        ProfileFact(
            id=f.id,
            content=f.content,
            kind=f.kind,
            confidence=f.confidence,
            updated_at=f.updated_at,
            expires_at=f.expires_at,
        )
        for f in ranked
    ]
    return ProfileResponse(
        profile=Profile(
            static=[p for p in view if p.kind == "static"], dynamic=[p for p in view if p.kind == "dynamic"]
        ),
        searchResults=results,
        tokens=used,
    )


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
