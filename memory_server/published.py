"""Published requests as units a caller can name, read and take back: what one publish stored (its messages)
and what it produced (its facts), and retracting all of it at once.

Compatibility doors that call a publish a "document" (Supermemory) read and delete through here. Everything a
request produced is found through the request id (facts and messages are indexed by it); a retraction also reads
the user's live facts, for those another request (a re-extraction) drew from its messages. It deletes the facts
(kept in SQLite as deleted, with a change-log row each), removes
the messages (episodes, with their keyword rows, vectors and signals; a change-log row each, without the text)
and drops the requests' jobs, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memory_server import retrieval, signals, timeutil
from memory_server.config import ExtractionConfig
from memory_server.context import Core, Scope
from memory_server.models import Episode, EpisodeRef, Fact, Job
from memory_server.store import changelog as changesql
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Connection
from memory_server.store.messages import StoredMessage


@dataclass
class Publication:
    """One published request: its job (status, session, times), the attributes it was published with and, when
    asked for, its messages and the live facts it produced."""

    job: Job
    attributes: dict[str, Any]
    messages: list[StoredMessage] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


@dataclass
class Retracted:
    request_ids: list[str]
    facts: list[Fact]
    episodes: list[Episode]


async def of_user(
    core: Core, scope: Scope, user_id: str, request_ids: Sequence[str] | None = None, *, with_contents: bool = False
) -> list[Publication]:
    """The user's published requests, oldest first (only `request_ids`, when given); `with_contents` adds each
    one's messages and the live facts it produced."""
    found = [
        Publication(job, attributes)
        for job, attributes in await jobsql.published(core.db, scope.space, user_id)
        if request_ids is None or job.request_id in request_ids
    ]
    if with_contents:
        await _fill(core, scope, user_id, found)
    return found


async def one(core: Core, scope: Scope, request_id: str, *, with_contents: bool = False) -> Publication | None:
    """A published request of the tenant by its id alone (its user read from it), for doors that name a publish
    without naming its user; `with_contents` adds its messages and live facts."""
    found = await jobsql.published_request(core.db, scope.space, request_id)
    if found is None:
        return None
    pub = Publication(*found)
    if with_contents:
        await _fill(core, scope, pub.job.user_id, [pub])
    return pub


async def _fill(core: Core, scope: Scope, user_id: str, found: list[Publication]) -> None:
    """Add each request's messages and the user's live facts it produced, read by request id."""
    if not found:
        return
    ids = [p.job.request_id for p in found]
    messages = await messagesql.of_requests(core.db, scope.space, ids)
    facts = await factsql.of_requests(core.db, scope.space, ids)
    by_id = {p.job.request_id: p for p in found}
    for message in messages:
        by_id[message.request_id].messages.append(message)
    now = timeutil.now()
    for fact in facts:
        live = fact.status == "active" and (fact.expires_at is None or fact.expires_at > now)
        if live and fact.user_id == user_id and fact.request_id in by_id:
            by_id[fact.request_id].facts.append(fact)


async def retract(core: Core, scope: Scope, user_id: str, request_ids: Sequence[str]) -> Retracted:
    """Delete what the user's requests produced and stored (facts, messages) and the requests themselves, in one
    transaction with a change-log row per fact and per message. Requests of another user are left alone. What was
    drawn from their messages goes too, whichever request wrote it (a re-extraction's); a queued request is dropped
    before it runs, and a running one writes nothing once it finds its request gone (`extraction._extract`)."""
    _, config = await core.configs.active(scope.space)
    async with core.user_lock(scope.space, user_id):
        live = await retrieval.live_facts(core, scope.space, user_id, with_vectors=False)
        async with core.db.transaction() as conn:
            retracted = await _retract(core, conn, scope, user_id, request_ids, config, live.facts)
    await core.vectors.flush(index_episodes=False)
    return retracted


async def _retract(
    core: Core,
    conn: Connection,
    scope: Scope,
    user_id: str,
    request_ids: Sequence[str],
    config: ExtractionConfig,
    live: list[Fact],
) -> Retracted:
    now = timeutil.now()
    mine = {job.request_id for job, _ in await jobsql.published(core.db, scope.space, user_id)}
    ids = [r for r in dict.fromkeys(request_ids) if r in mine]
    message_ids = [m.id for m in await messagesql.of_requests(conn, scope.space, ids)]
    said = set(message_ids)
    drawn = [f for f in live if said.intersection(f.message_ids)]
    deleted = []
    for fact in {f.id: f for f in [*await factsql.of_requests(conn, scope.space, ids), *drawn]}.values():
        if fact.user_id != user_id or fact.status == "deleted":
            continue
        after = await factsql.set_status(conn, fact, "deleted", now)
        if after is not None:
            await changesql.record(
                conn, ChangeEvent("delete", scope.space, user_id, scope.actor, now, fact.id, fact, after)
            )
            deleted.append(after)
    gone = await episodesql.remove(conn, scope.space, user_id, message_ids)
    for episode in gone:
        ref = EpisodeRef.model_validate(episode, from_attributes=True)
        event = ChangeEvent(
            "episode_delete", scope.space, user_id, scope.actor, now, before=ref, message_id=episode.message_id
        )
        await changesql.record(conn, event)
    if gone:
        await signals.refresh(core, conn, scope.space, user_id, config)
    await jobsql.delete_requests(conn, scope.space, ids)
    return Retracted(ids, deleted, gone)


class Publications:
    """The service's part for published requests (`service.published`), with the role each call needs."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def of_user(
        self, scope: Scope, user_id: str, request_ids: Sequence[str] | None = None, *, with_contents: bool = False
    ) -> list[Publication]:
        """The user's published requests (only `request_ids`, when given), with their messages and live facts
        when `with_contents`."""
        scope.require("viewer")
        return await of_user(self.core, scope, user_id, request_ids, with_contents=with_contents)

    async def find(self, scope: Scope, request_id: str, *, with_contents: bool = False) -> Publication | None:
        """A published request by its id (with its messages and live facts when `with_contents`); None for an id
        that is not a published request of this tenant (another tenant's included)."""
        scope.require("viewer")
        return await one(self.core, scope, request_id, with_contents=with_contents)

    async def retract(self, scope: Scope, user_id: str, request_ids: Sequence[str]) -> Retracted:
        """Delete what the user's requests produced (facts) and stored (messages), and the requests, at once, even
        one being extracted (it then stores nothing)."""
        scope.require("editor")
        return await retract(self.core, scope, user_id, request_ids)
