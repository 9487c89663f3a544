"""Published requests as units a caller can name, read and take back: what one publish stored (its messages)
and what it produced (its facts), and retracting all of it at once.

Compatibility doors that call a publish a "document" (Supermemory) read and delete through here. Everything a
request produced is found through the request id (facts and messages are indexed by it), never by scanning a
user's memory. A retraction deletes the facts (kept in SQLite as deleted, with a change-log row each), removes
the messages (episodes, with their keyword rows, vectors and signals; a change-log row each, without the text)
and drops the requests' jobs, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memory_server import signals, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Unavailable
from memory_server.models import Episode, EpisodeRef, Fact, Job
from memory_server.store import changelog as changesql
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.messages import StoredMessage


@dataclass
class Publication:
    """One published request: its job (status, session, times), the attributes it was published with and, when
    asked for, its messages and the live facts it produced."""

    job: Job
    attributes: dict[str, Any]
    messages: list[StoredMessage] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


class StillRunning(Exception):
    """A request to retract is being extracted now: wait for it, then retract what it produced too."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


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
    transaction with a change-log row per fact and per message. Requests of another user are left alone; a
    queued request is dropped before it runs, a running one raises StillRunning (nothing is changed)."""
    now = timeutil.now()
    _, config = await core.configs.active(scope.space)
    async with core.user_lock(scope.space, user_id), core.db.transaction() as conn:
        # Read with the writer held: no job can be claimed (or finish) while this transaction is open.
        mine = {job.request_id: job for job, _ in await jobsql.published(core.db, scope.space, user_id)}
        ids = [r for r in dict.fromkeys(request_ids) if r in mine]
        running = next((r for r in ids if mine[r].status == "running"), None)
        if running is not None:  # its facts are not written yet; retracting now would leave them behind
            raise StillRunning(running)
        deleted = []
        for fact in await factsql.of_requests(conn, scope.space, ids):
            if fact.user_id != user_id or fact.status == "deleted":
                continue
            after = await factsql.set_status(conn, fact, "deleted", now)
            if after is not None:
                event = ChangeEvent("delete", scope.space, user_id, scope.actor, now, fact.id, fact, after)
                await changesql.record(conn, event)
                deleted.append(after)
        message_ids = [m.id for m in await messagesql.of_requests(conn, scope.space, ids)]
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
    await core.vectors.flush(index_episodes=False)
    return Retracted(ids, deleted, gone)


class Publications:
    """The service's part for published requests (`service.published`), with the role each call needs."""

    def __init__(self, core: Core, wait: Callable[[Scope, str], Awaitable[None]]) -> None:
        self.core = core
        self._wait = wait  # until a request is done or failed (the service's workers know)

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
        """Delete what the user's requests produced (facts) and stored (messages), and the requests, at once; a
        request being extracted is waited for first."""
        scope.require("editor")
        for _ in range(5):
            try:
                return await retract(self.core, scope, user_id, request_ids)
            except StillRunning as busy:
                await self._wait(scope, busy.request_id)
        raise Unavailable("the requests are being processed: retry in a moment")
