"""The per-turn profile (`POST /v1/profile`): the user's live facts, most useful first, split into static and
dynamic; with `q`, also what a search for it found (`retrieval.find`), which lifts the facts it matched; within
`max_tokens` when asked. Without `q` it reads only the columns it shows (`profile_facts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from extractors import tokens
from memory_server import timeutil
from memory_server.context import Core, Scope
from memory_server.cpu import off_loop
from memory_server.models import Profile, ProfileFact, ProfileResponse, SearchHit
from memory_server.retrieval import BIG, Ask, check_top_k, find
from memory_server.schemas import ProfileIn
from memory_server.store import facts as factsql
from memory_server.store.db import Row


async def profile_facts(core: Core, tenant_id: str, user_id: str) -> list[ProfileFact]:
    """The user's active, unexpired facts as a profile shows them, newest first (a lighter read than
    `live_facts`: a profile without `q` needs nothing else)."""
    rows = await factsql.live_profile_rows(core.db, tenant_id, user_id)
    return await off_loop(len(rows) > BIG, _to_profile_facts, rows)


def _to_profile_facts(rows: Sequence[Row]) -> list[ProfileFact]:
    return [factsql.to_profile_fact(r) for r in rows]


def _usefulness(fact: ProfileFact, relevance: float, now: datetime) -> float:
    """Static facts by confidence; dynamic ones also by freshness; a query's relevance adds on top."""
    base = fact.confidence
    if fact.kind == "dynamic":
        age_days = max(0.0, (now - fact.updated_at).total_seconds() / 86_400)
        base *= 0.9 / (1.0 + age_days / 7)
    return base + 2.0 * relevance


def _trim(items: Sequence[tuple[str, object]], budget: int) -> tuple[list[object], int]:
    """Keep items, in the given order, while their lines fit the token budget."""
    kept, used = [], 0
    for line, item in items:
        cost = tokens.count(f"- {line}\n")
        if used + cost <= budget:
            kept.append(item)
            used += cost
    return kept, used


async def profile(core: Core, scope: Scope, body: ProfileIn, live: list[ProfileFact] | None = None) -> ProfileResponse:
    """The per-turn profile; without `q`, of the user's live facts `live` (`profile_facts`) when the caller has
    read them."""
    relevance: dict[str, float] = {}
    results = None
    if body.q:
        check_top_k(core, body.top_k)
        ask = Ask(body.user_id, body.q, body.top_k, body.threshold, body.types, body.roles)
        found = await find(core, scope, ask if "facts" in body.types else replace(ask, types=["facts", *ask.types]))
        relevance = {f.id: float(s) for f, s in zip(found.live.facts, found.fact_scores, strict=True)}
        facts = [ProfileFact.model_validate(f, from_attributes=True) for f in found.live.facts]
        results = found.results
    elif live is not None:
        facts = live
    else:
        facts = await profile_facts(core, scope.space, body.user_id)
    now = timeutil.now()
    useful = [(_usefulness(f, relevance.get(f.id, 0.0), now), f.content, f) for f in facts]
    if results is not None:
        useful.extend((2.0 * h.score, h.context_line(), h) for h in results.results if h.type == "episode")
    useful.sort(key=lambda u: -u[0])
    used = None
    kept = [item for _, _, item in useful]
    if body.max_tokens is not None:
        kept, used = await off_loop(
            len(useful) > BIG, _trim, [(line, item) for _, line, item in useful], body.max_tokens
        )
    ranked = [f for f in kept if isinstance(f, ProfileFact)]
    if results is not None:  # what the budget kept, and facts only when they were asked for
        kept_episodes = {id(h) for h in kept if isinstance(h, SearchHit)}
        kept_facts = {f.id for f in ranked} if "facts" in body.types else set()
        shown = [h for h in results.results if (id(h) in kept_episodes if h.type == "episode" else h.id in kept_facts)]
        results = results.model_copy(update={"results": shown, "total": len(shown)})
    return ProfileResponse(
        profile=Profile(
            static=[p for p in ranked if p.kind == "static"], dynamic=[p for p in ranked if p.kind == "dynamic"]
        ),
        searchResults=results,
        tokens=used,
    )
