"""From candidate facts to stored facts: embed, reconcile against the user's live facts, write once.

Everything one request changes (new facts, superseded or retired ones, their change-log rows, the
queued vector operations and, for a job, its `done` mark) commits in a single transaction, so a crash
or an error leaves either all of it or none of it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from extractors import cues
from extractors.base import CandidateFact, Usage
from memory_server import metrics, timeutil, webhooks
from memory_server.config import ExtractionConfig
from memory_server.context import Core, Scope
from memory_server.cpu import Budget
from memory_server.errors import Conflict
from memory_server.models import Fact
from memory_server.neighbors import Working
from memory_server.recency import not_overruled, said_later, said_times
from memory_server.reconcile import Action, Decision, Item, Reconciler
from memory_server.retrieval import live_facts
from memory_server.store import changelog as changesql
from memory_server.store import facts as factsql
from memory_server.store import indexed
from memory_server.store import jobs as jobsql
from memory_server.store import users as usersql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Connection


@dataclass
class Origin:
    """Where a batch of candidates came from."""

    request_id: str
    user_id: str
    source: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    message_ids: list[int] = field(default_factory=list)
    message_times: list[datetime] = field(default_factory=list)
    config_version: int | None = None
    finishes_job: bool = False


@dataclass
class _Plan:
    inserts: list[tuple[Fact, np.ndarray]] = field(default_factory=list)
    retired: list[tuple[Fact, str, str | None]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)

    def retire(self, old: Fact, status: str, successor: str | None, now: datetime) -> Fact:
        """Retire a stored fact, or one planned earlier in this batch (it is then inserted already retired,
        so its history stays and it never holds the content slot a later fact of the batch needs)."""
        retired = old.model_copy(update={"status": status, "superseded_by": successor, "updated_at": now})
        for i, (planned, vector) in enumerate(self.inserts):
            if planned.id == old.id:
                self.inserts[i] = (retired, vector)
                return retired
        self.retired.append((old, status, successor))
        return retired


def _expiry(candidate: CandidateFact, origin: Origin, config: ExtractionConfig, now: datetime) -> datetime | None:
    """Dynamic facts live from the time of the message that stated them (their expiry in UTC, as stored), or from
    now when that time is still to come (a client's clock was wrong)."""
    if candidate.kind != "dynamic":
        return None
    times = _times(candidate, origin)
    start = min(timeutil.as_utc(min(times)), now) if times else now
    return timeutil.later(start, candidate.ttl_seconds or config.dynamic_ttl_seconds)


def _times(candidate: CandidateFact, origin: Origin) -> list[datetime]:
    """When the messages the candidate came from were said."""
    return [origin.message_times[i] for i in candidate.message_indexes if 0 <= i < len(origin.message_times)]


def _attributes(candidate: CandidateFact, origin: Origin) -> dict[str, Any]:
    """The request's attributes, and the identifier the fact states (what the `identities` section reads)."""
    if candidate.identity is None:
        return origin.attributes
    return {**origin.attributes, "identity": candidate.identity.model_dump()}


def worth_storing(
    candidates: Sequence[CandidateFact], origin: Origin, config: ExtractionConfig, now: datetime
) -> list[CandidateFact]:
    """The candidates a `Batch` reconciles: confident enough, not expired already, one per content."""
    kept, seen = [], set()
    for c in candidates:
        digest = factsql.content_hash(c.content)
        expiry = _expiry(c, origin, config, now)
        if c.confidence >= config.min_confidence and (expiry is None or expiry > now) and digest not in seen:
            kept.append(c)
            seen.add(digest)
    return kept


def _said_at(candidate: CandidateFact, origin: Origin) -> datetime | None:
    """When the candidate was said: its messages' first time, else the request's."""
    times = _times(candidate, origin) or origin.message_times
    return min(times) if times else None


@dataclass
class Planned:
    """What reconciling a batch decided, against the user's live facts of the time (`live_ids`)."""

    plan: _Plan
    outcome: list[tuple[Decision, Fact | None]]
    live_ids: frozenset[str]
    now: datetime


@dataclass
class Batch:
    """One request's candidate facts for one user: reconciled against the user's live facts (`plan`) and stored
    (`store`, under the user's lock).

    Planning a big batch is CPU work on the event loop, so it yields to other requests every few milliseconds and
    stops with BudgetExceeded once the request's budget is spent. A reconciler that asks a chat model plans before
    the lock (`ahead`), so the user's other writes do not wait for the model; `store` plans again only if the
    user's live facts changed meanwhile. `embedded` holds vectors the caller already made for some contents (a job
    embeds them with its messages).
    """

    core: Core
    scope: Scope
    candidates: Sequence[CandidateFact]
    origin: Origin
    config: ExtractionConfig
    reconciler: Reconciler
    actor: str
    usage: Usage = field(default_factory=Usage)
    budget: Budget | None = None
    embedded: dict[str, np.ndarray] = field(default_factory=dict)

    async def ahead(self) -> Planned | None:
        """A plan made before the user's lock when the reconciler may wait on a model; None otherwise (planning
        under the lock then costs less than checking a plan made before it)."""
        return await self.plan() if self.reconciler.asks_model else None

    async def plan(self) -> Planned:
        core, scope, origin = self.core, self.scope, self.origin
        now = timeutil.now()
        worth = worth_storing(self.candidates, origin, self.config, now)
        kept = await not_overruled(core.db, scope.space, origin.user_id, [(c, _said_at(c, origin)) for c in worth])
        if missing := [c.content for c in kept if c.content not in self.embedded]:
            self.embedded.update(zip(missing, await core.embedder.embed(missing), strict=True))
        vectors = [self.embedded[c.content] for c in kept]
        live = await live_facts(core, scope.space, origin.user_id, with_vectors=True)
        working = Working(live.facts, live.matrix)
        planned = Planned(_Plan(), [], frozenset(f.id for f in live.facts), now)
        pacer = _Pacer(self.budget)

        async def apply(candidate: CandidateFact, vector: np.ndarray, decision: Decision) -> Fact | None:
            offered = set(decision.target_ids)
            targets = working.pairs(offered)  # ids of facts no longer live are dropped
            if decision.action in (Action.UPDATE, Action.DELETE) and await said_later(
                core.db, scope.space, [fact for fact, _ in targets], _said_at(candidate, origin)
            ):
                decision = Decision(Action.NONE, decision.target_ids, "older than what it would replace", decision.by)
                offered = set()
            written = _plan_decision(
                planned.plan, scope, candidate, vector, decision, targets, origin, self.config, self.actor, now
            )
            if decision.action in (Action.UPDATE, Action.DELETE):
                working.remove(offered)
            if written is not None:
                working.add(written, vector)
            planned.outcome.append((decision, written))
            return written

        related = self.config.related_threshold
        if self.reconciler.sequential:
            for candidate, vector in zip(kept, vectors, strict=True):
                await pacer.step()
                neighbors = working.neighbors(vector, candidate, related)
                [decision] = await self.reconciler.decide([(candidate, neighbors)], self.usage)
                await apply(candidate, vector, decision)
        elif kept:
            items = []
            for c, v in zip(kept, vectors, strict=True):
                await pacer.step()
                items.append((c, working.neighbors(v, c, related)))
            if self.reconciler.asks_model:
                items = await _dated(core, scope, items)
            decisions = await self.reconciler.decide(items, self.usage)
            slots = _Slots()
            decided = sorted(zip(items, vectors, decisions, strict=True), key=lambda d: _last_message(d[0][0]))
            for (candidate, _), vector, decision in decided:
                written = await apply(candidate, vector, slots.decision(candidate, decision))
                slots.note(candidate, written)
        return planned

    async def store(
        self, planned: Planned | None = None, also: Callable[[Connection], Awaitable[None]] | None = None
    ) -> list[tuple[Decision, Fact | None]]:
        """Write the batch in one transaction, under the user's lock (the caller holds it), and return each
        decision with the fact it wrote: `planned` when the user's live facts are still those it was planned
        against, else a plan made now. `also` writes more of the same request in that transaction (an extraction
        job's message signals)."""
        core, scope, origin = self.core, self.scope, self.origin
        if planned is None or await factsql.live_ids(core.db, scope.space, origin.user_id) != planned.live_ids:
            planned = await self.plan()
        plan, now = planned.plan, planned.now
        async with core.db.transaction() as conn:
            for fact, status, successor in plan.retired:  # first: a new fact may take the content of a retired one
                if await factsql.set_status(conn, fact, status, now, superseded_by=successor) is None:
                    raise Conflict(f"fact {fact.id} changed while this request was reconciled; try again")
            for fact, vector in plan.inserts:
                await factsql.insert(conn, scope.space, fact, vector, core.embedder.model_id)
            if plan.inserts:  # a user whose facts are stated directly is a user all the same (listed, purgeable)
                await usersql.known(conn, scope.space, origin.user_id, now)
            for event in plan.events:
                await changesql.record(conn, event)
            if also is not None:
                await also(conn)
            if origin.finishes_job:
                await jobsql.mark_done(conn, origin.request_id, now, self.usage)
                done = {"user_id": origin.user_id, "request_id": origin.request_id}
                await webhooks.emit(conn, scope.space, "request.done", done, at=now)
        metrics.count_decisions(decision for decision, _ in planned.outcome)
        # Only a user the index serves (or is being filled with) needs it in line before this returns; the
        # operations of other users wait for the workers' next flush, applied with everyone else's.
        if await indexed.includes(core.db, scope.space, origin.user_id, "facts"):
            await core.vectors.flush(index_episodes=False)
        return planned.outcome


async def apply_candidates(
    core: Core,
    scope: Scope,
    candidates: Sequence[CandidateFact],
    origin: Origin,
    config: ExtractionConfig,
    reconciler: Reconciler,
    actor: str,
) -> list[tuple[Decision, Fact | None]]:
    """Reconcile and store candidates for one user, under the user's lock (taken here, after a model's planning:
    see `Batch`); return each decision with the fact it wrote."""
    batch = Batch(core, scope, candidates, origin, config, reconciler, actor)
    early = await batch.ahead()
    async with core.user_lock(scope.space, origin.user_id):
        return await batch.store(early)


async def _dated(core: Core, scope: Scope, items: list[Item]) -> list[Item]:
    """The items with when each neighbour was said, which a model is shown beside it."""
    times = await said_times(
        core.db, scope.space, list({n.fact.id: n.fact for _, near in items for n in near}.values())
    )
    return [(c, [replace(n, said_at=times[n.fact.id]) for n in near]) for c, near in items]


def _last_message(candidate: CandidateFact) -> int:
    return max(candidate.message_indexes, default=-1)


class _Slots:
    """The facts a batch wrote for each slot (location, occupation, …) and the message they came from.

    A batch reconciler decides against the stored facts alone, so a later message of the same request that gives a
    slot a new value ("I live in Lille" … "sorry, I meant Lyon") would leave both values live. The later one
    replaces the earlier, as it would had they come in two requests (the rules reconciler, asked one candidate at
    a time, sees them itself), and as there a temporary value replaces only a temporary one. Two values from one
    message ("a flat in Berlin and one in Lisbon") both stand.
    """

    def __init__(self) -> None:
        self.filled: dict[str, tuple[Fact, int]] = {}

    def decision(self, candidate: CandidateFact, decision: Decision) -> Decision:
        topic = cues.topic_of(candidate.content)
        if topic not in self.filled or decision.action not in (Action.ADD, Action.UPDATE):
            return decision
        earlier, message = self.filled[topic]
        if message >= _last_message(candidate) or (earlier.kind, candidate.kind) == ("static", "dynamic"):
            return decision
        targets = [*decision.target_ids, earlier.id] if decision.action is Action.UPDATE else [earlier.id]
        return Decision(Action.UPDATE, targets, f"newer value for {topic} in this request", decision.by)

    def note(self, candidate: CandidateFact, written: Fact | None) -> None:
        if written is not None and (topic := cues.topic_of(candidate.content)):
            self.filled[topic] = (written, _last_message(candidate))


class _Pacer:
    """Hands the event loop back every few milliseconds of planning, and enforces the budget."""

    SLICE_SECONDS = 0.005

    def __init__(self, budget: Budget | None) -> None:
        self.budget = budget
        self.since = time.perf_counter()

    async def step(self) -> None:
        if time.perf_counter() - self.since < self.SLICE_SECONDS:
            return
        if self.budget is not None:
            self.budget.remaining("reconciliation")
        await asyncio.sleep(0)
        self.since = time.perf_counter()


def _plan_decision(
    plan: _Plan,
    scope: Scope,
    candidate: CandidateFact,
    vector: np.ndarray,
    decision: Decision,
    targets: list[tuple[Fact, np.ndarray]],
    origin: Origin,
    config: ExtractionConfig,
    actor: str,
    now: datetime,
) -> Fact | None:
    """Add the writes one decision needs to the plan; return the new fact, if any."""
    action = decision.action
    if action is Action.NONE or (action is Action.DELETE and not targets):
        return None

    def event(name: str, fact_id: str, before: Fact | None, after: Fact | None) -> None:
        plan.events.append(
            ChangeEvent(name, scope.space, origin.user_id, actor, now, fact_id, before, after, origin.request_id)
        )

    if action is Action.DELETE:
        for old, _ in targets:
            event("delete", old.id, old, plan.retire(old, "deleted", None, now))
        return None
    new = Fact(
        id=str(uuid.uuid4()),
        user_id=origin.user_id,
        kind=candidate.kind,
        content=candidate.content,
        source=origin.source,
        attributes=_attributes(candidate, origin),
        confidence=candidate.confidence,
        topic=candidate.topic,
        status="active",
        request_id=origin.request_id,
        message_ids=[origin.message_ids[i] for i in candidate.message_indexes if 0 <= i < len(origin.message_ids)],
        config_version=origin.config_version,
        created_at=now,
        updated_at=now,
        expires_at=_expiry(candidate, origin, config, now),
    )
    plan.inserts.append((new, vector))
    if action is Action.UPDATE and targets:
        for old, _ in targets:
            event("supersede", old.id, old, plan.retire(old, "superseded", new.id, now))
        event("update", new.id, targets[0][0], new)
    else:
        event("add", new.id, None, new)
    return new
