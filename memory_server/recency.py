"""Older news never overrides newer: when a fact was said, and what an extraction may not undo.

Times here are when the user said something (their messages' times as published), never when a server processed
it: a queue backlog, a re-extraction or a backfill of old conversations processes statements long after they were
made, and "chef", "pilot", "chef" said in that order must end with "chef" however late each job ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from extractors.base import CandidateFact
from memory_server import timeutil
from memory_server.models import Fact
from memory_server.store import facts as factsql
from memory_server.store import messages as messagesql
from memory_server.store.db import Database
from memory_server.store.facts import Retirement

#: Marks the change-log actor of an extraction (`extracting_as`): what it retires, a statement retired.
_EXTRACTOR = "/extractor:"


def extracting_as(requester: str, extractor: str) -> str:
    """The actor an extraction records its changes as: who published the request, and which extractor read it."""
    return f"{requester}{_EXTRACTOR}{extractor}"


async def said_times(db: Database, space: str, facts: Sequence[Fact]) -> dict[str, datetime | None]:
    """When each fact was said, by its id: when its latest message was; unknown (None) once its messages are deleted;
    for a fact stated without messages, when its request's latest message was, else when it was stored. A model
    shown the storage time instead reads a fact replayed from old conversations as newer than what it hears now."""
    times = await messagesql.times_of(db, space, [m for f in facts for m in f.message_ids])
    unsourced = [f.request_id for f in facts if f.request_id and not any(m in times for m in f.message_ids)]
    requests = await messagesql.latest_of_requests(db, space, unsourced)

    def said_at(fact: Fact) -> datetime | None:
        known = [times[m] for m in fact.message_ids if m in times]
        if known:
            return max(known)
        if fact.message_ids:
            return None
        return requests.get(fact.request_id or "", fact.created_at)

    return {f.id: said_at(f) for f in facts}


async def not_overruled(
    db: Database, space: str, user_id: str, candidates: Sequence[tuple[CandidateFact, datetime | None]]
) -> list[CandidateFact]:
    """The candidates (each with when it was said) not deleted or replaced after they were said: extracting the
    same messages again (another config, a re-extraction) must neither undo a person's decision nor bring back what
    a later statement replaced. What is said again afterwards counts anew, and a fact stated without messages is
    meant as it is."""
    digests = [factsql.content_hash(c.content) for c, _ in candidates]
    retired = await factsql.retirements(db, space, user_id, digests)
    if not retired:
        return [c for c, _ in candidates]
    overruled: dict[str, datetime] = {}
    for retirement, at in zip(retired, await _when_overruled(db, space, retired), strict=True):
        overruled[retirement.content_hash] = max(at, overruled.get(retirement.content_hash, at))
    return [
        candidate
        for (candidate, said), digest in zip(candidates, digests, strict=True)
        if digest not in overruled or said is None or said > overruled[digest]
    ]


async def _when_overruled(db: Database, space: str, retired: Sequence[Retirement]) -> list[datetime]:
    """A person overrules when they act; a statement when it was said: the fact that replaced the old one was
    (else, a model's deletion, its request's messages were), and when that is not known any more, when it was
    recorded."""
    stated = [r for r in retired if _EXTRACTOR in r.actor]
    successors = await factsql.of_ids(db, space, [r.successor for r in stated if r.successor])
    by_fact = await said_times(db, space, successors)
    by_request = await messagesql.latest_of_requests(db, space, [r.request_id for r in stated if r.request_id])

    def when(r: Retirement) -> datetime:
        if _EXTRACTOR not in r.actor:
            return r.recorded_at
        said = by_fact.get(r.successor) if r.successor else by_request.get(r.request_id or "")
        return said or r.recorded_at

    return [when(r) for r in retired]


async def said_later(db: Database, space: str, targets: Sequence[Fact], said: datetime | None) -> bool:
    """Whether any fact a candidate said at `said` would replace or delete was said after it: older news never
    overrides newer (a re-extraction replaying the past, a backfill of old conversations). A candidate without a
    time is news, and so is one replacing a fact said "in the future" (a client's clock was wrong: that fact's time
    tells nothing)."""
    if said is None or not targets:
        return False
    times = await said_times(db, space, targets)
    now = timeutil.now()
    return any(at is not None and said < at <= now for at in times.values())
