"""Removing memory: delete a fact (optionally with the messages it came from), delete by meaning (facts and
episodes), expire dynamic facts, drop episodes past their retention, purge a user.

Deleted and expired facts stay in SQLite (hidden, with their change-log rows) and leave the vector
index. A deleted episode is gone: its message, keyword row and vector are removed, and its change-log
row keeps where it was, never what it said. A purge removes a user's rows, keeping bare change-log
entries with their content blanked.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from memory_server import episodes, retrieval, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Conflict, NotFound
from memory_server.index.chroma import IndexUnavailable
from memory_server.models import Episode, Fact
from memory_server.schemas import DeleteByQueryIn
from memory_server.store import changelog as changesql
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import indexed as indexedsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store import retrievals as retrievalsql
from memory_server.store import segments as segmentsql
from memory_server.store import user_revisions
from memory_server.store import users as usersql
from memory_server.store import webhooks as hooksql
from memory_server.store.changelog import ChangeEvent

log = logging.getLogger(__name__)

EXPIRY_ACTOR = "system:expiry"


async def delete_facts(core: Core, scope: Scope, user_id: str, targets: list[Fact]) -> list[Fact]:
    """Mark facts deleted (already deleted ones are returned unchanged) and log each."""
    now = timeutil.now()
    done = []
    async with core.db.transaction() as conn:
        for fact in targets:
            if fact.status == "deleted":
                done.append(fact)
                continue
            after = await factsql.set_status(conn, fact, "deleted", now)
            if after is None:
                continue
            await changesql.record(
                conn, ChangeEvent("delete", scope.space, user_id, scope.actor, now, fact.id, fact, after)
            )
            done.append(after)
    await core.vectors.flush(index_episodes=False)
    return done


class Previewed(NamedTuple):
    fact_ids: frozenset[str]
    message_ids: frozenset[int]


async def _targets(core: Core, scope: Scope, body: DeleteByQueryIn) -> tuple[list[Fact], list[int]]:
    """The live facts that match `query` at or above `threshold`, and the ids of the episodes that go with
    them: those that match, and the messages the matching facts came from (unless only facts are asked for),
    since they say what the user asked to forget, whatever their own score."""
    ask = retrieval.Ask(body.user_id, body.query, body.top_k, body.threshold, body.types, body.roles)
    found = await retrieval.find(core, scope, ask, collapse=False)
    sources = {e.message_id for e in found.episodes}
    if "episodes" in body.types:
        sources |= {m for f in found.facts for m in f.message_ids}
    return found.facts, sorted(sources)


async def matching(core: Core, scope: Scope, body: DeleteByQueryIn) -> tuple[list[Fact], list[Episode]]:
    """What `delete_by_query` would delete now: its preview."""
    facts, ids = await _targets(core, scope, body)
    found = await episodes.details(core, scope, ids)
    return facts, [found[i] for i in ids if i in found]


async def delete_by_query(
    core: Core, scope: Scope, body: DeleteByQueryIn, previewed: Previewed | None = None
) -> tuple[list[Fact], list[Episode]]:
    """Delete what `matching` finds, under the user's lock; with `previewed` (the fact and message ids a preview
    showed), only if that is still exactly what matches."""
    async with core.user_lock(scope.space, body.user_id):
        facts, ids = await _targets(core, scope, body)
        if previewed is not None and previewed != Previewed(frozenset(f.id for f in facts), frozenset(ids)):
            raise Conflict("query: what matches changed since the preview; preview again", field="query")
        deleted = await delete_facts(core, scope, body.user_id, facts)
        gone = await episodes.delete(core, scope, body.user_id, ids)
    return deleted, gone


async def delete_fact(
    core: Core, scope: Scope, fact_id: str, user_id: str | None, with_sources: bool
) -> tuple[Fact, list[Episode]]:
    """Delete one fact (with `user_id`, only if it is that user's: another user's reads as not found);
    `with_sources` also deletes the messages it was extracted from."""
    fact = await retrieval.get_fact(core, scope.space, fact_id)
    if user_id is not None and fact.user_id != user_id:
        raise NotFound(f"fact_id: no fact {fact_id}", field="fact_id")
    async with core.user_lock(scope.space, fact.user_id):
        current = await retrieval.get_fact(core, scope.space, fact.id)
        [deleted] = await delete_facts(core, scope, fact.user_id, [current])
        sources = current.message_ids if with_sources else []
        return deleted, await episodes.delete(core, scope, fact.user_id, sources)


async def delete_episode(core: Core, scope: Scope, message_id: int, user_id: str | None) -> Episode:
    """Delete one episode (its message); with `user_id`, only if it is that user's."""
    episode = await episodes.get(core, scope, message_id)
    if user_id is not None and episode.user_id != user_id:
        raise NotFound(f"message_id: no episode {message_id}", field="message_id")
    async with core.user_lock(scope.space, episode.user_id):
        gone = await episodes.delete(core, scope, episode.user_id, [message_id])
    if not gone:
        raise NotFound(f"message_id: no episode {message_id}", field="message_id")
    return gone[0]


async def delete_user_facts(core: Core, scope: Scope, user_id: str) -> list[Fact]:
    """Delete every live fact of the user (each logged); their messages stay, as episodes, until purged."""
    async with core.user_lock(scope.space, user_id):
        live = await retrieval.live_facts(core, scope.space, user_id, with_vectors=False)
        return await delete_facts(core, scope, user_id, live.facts)


async def purge_user(core: Core, scope: Scope, user_id: str) -> dict[str, int]:
    """Remove the user's messages (with their signals), facts, vectors, jobs, record, webhook events (sent or
    not) and retrieval log, and blank their change-log contents; NotFound for a user with none of these (a
    mistyped id is no purge to log)."""
    now = timeutil.now()
    key = (scope.space, user_id)
    was_indexed = any([await indexedsql.includes(core.db, *key, family) for family in ("facts", "episodes")])
    async with core.user_lock(*key), core.db.transaction() as conn:
        await episodesql.delete_user(conn, *key)
        counts = {
            "messages": await messagesql.delete_user(conn, *key),
            "jobs": await jobsql.delete_user(conn, *key),
            "facts": await factsql.delete_user(conn, *key),
            "changes_blanked": await changesql.blank_user(conn, *key),
            "webhook_events": await hooksql.delete_user(conn, *key),
            "retrievals": await retrievalsql.delete_user(conn, *key),
        }
        recorded = await usersql.delete(conn, *key)
        if not recorded and not any(counts[k] for k in ("messages", "jobs", "facts")):
            raise NotFound(f"user_id: no user {user_id}", field="user_id")  # rolls back: nothing was purged
        core.retrievals.discard(*key)
        await segmentsql.delete_user(conn, *key)
        await changesql.record(conn, ChangeEvent("purge", scope.space, user_id, scope.actor, now))
        await user_revisions.delete_user(conn, *key)  # last: the deletes above bumped it
    if not was_indexed:
        await core.vectors.flush(index_episodes=False)
        return counts
    try:  # the index follows the user's deletions now, while it still counts them among its users
        await core.vectors.flush(strict=True)
    except IndexUnavailable as exc:
        log.error("purged %s, whose vectors stay queued for the index until it can be used: %s", user_id, exc)
        return counts
    await indexedsql.forget(core.db, *key)
    return counts


async def expire_due(core: Core, batch: int = 500) -> int:
    """Mark dynamic facts past their expiry as expired, with a change-log row each; drop episodes past their
    tenant's retention. Return how many facts and episodes went."""
    return await _expire_facts(core, batch) + await episodes.sweep(core, batch)


async def _expire_facts(core: Core, batch: int) -> int:
    due = await factsql.due_to_expire(core.db, batch)
    if not due:
        return 0
    now = timeutil.now()
    async with core.db.transaction() as conn:
        for tenant_id, fact in due:
            after = await factsql.set_status(conn, fact, "expired", now)
            if after is not None:
                event = ChangeEvent("expire", tenant_id, fact.user_id, EXPIRY_ACTOR, now, fact.id, fact, after)
                await changesql.record(conn, event)
    await core.vectors.flush(index_episodes=False)
    return len(due)
