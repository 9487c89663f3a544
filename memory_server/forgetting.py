"""Removing memory: delete a fact, delete by meaning, expire dynamic facts, purge a user.

Deleted and expired facts stay in SQLite (hidden, with their change-log rows) and leave the vector
index; only a purge removes a user's rows, keeping bare change-log entries with their content blanked.
"""

from __future__ import annotations

from memory_server import retrieval, timeutil
from memory_server.context import Core, Scope
from memory_server.models import Fact
from memory_server.schemas import DeleteByQueryIn, SearchIn
from memory_server.store import changelog as changesql
from memory_server.store import facts as factsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store.changelog import ChangeEvent

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
                conn, ChangeEvent("delete", scope.tenant_id, user_id, scope.actor, now, fact.id, fact, after)
            )
            done.append(after)
    await core.vectors.flush()
    return done


async def delete_by_query(core: Core, scope: Scope, body: DeleteByQueryIn) -> list[Fact]:
    """Delete the user's live facts that match `query` at or above `threshold`."""
    async with core.user_lock(scope.tenant_id, body.user_id):
        query = SearchIn(user_id=body.user_id, query=body.query, threshold=body.threshold, top_k=body.top_k)
        found, _ = await retrieval.run_search(core, scope, query)
        return await delete_facts(core, scope, body.user_id, found)


async def purge_user(core: Core, scope: Scope, user_id: str) -> dict[str, int]:
    """Remove the user's messages, facts, vectors and jobs, and blank their change-log contents."""
    now = timeutil.now()
    key = (scope.tenant_id, user_id)
    async with core.user_lock(*key), core.db.transaction() as conn:
        counts = {
            "messages": await messagesql.delete_user(conn, *key),
            "jobs": await jobsql.delete_user(conn, *key),
            "facts": await factsql.delete_user(conn, *key),
            "changes_blanked": await changesql.blank_user(conn, *key),
        }
        await changesql.record(conn, ChangeEvent("purge", scope.tenant_id, user_id, scope.actor, now))
    await core.vectors.flush()
    return counts


async def expire_due(core: Core, batch: int = 500) -> int:
    """Mark dynamic facts past their expiry as expired, with a change-log row each."""
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
    await core.vectors.flush()
    return len(due)
