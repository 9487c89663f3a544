"""Removing memory: delete a fact, delete by meaning, expire dynamic facts, purge a user.

Deleted and expired facts stay in SQLite (hidden, with their change-log rows) and leave the vector
index; only a purge removes a user's rows, keeping bare change-log entries with their content blanked.
"""

from __future__ import annotations

from memory_server import changelog, retrieval, timeutil
from memory_server import facts as factsql
from memory_server.changelog import ChangeEvent
from memory_server.context import Core, Scope
from memory_server.models import Fact
from memory_server.schemas import DeleteByQueryIn, SearchIn

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
            await changelog.record(
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
        ids = [
            r[0] for r in await conn.execute_fetchall("SELECT id FROM facts WHERE tenant_id = ? AND user_id = ?", key)
        ]
        await factsql.mark_vector_dirty(conn, ids)
        counts = {"facts": len(ids)}
        for table in ("messages", "jobs", "facts"):
            cur = await conn.execute(f"DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?", key)
            counts.setdefault(table, cur.rowcount)
        cur = await conn.execute(
            "UPDATE changelog SET before = NULL, after = NULL WHERE tenant_id = ? AND user_id = ?", key
        )
        counts["changes_blanked"] = cur.rowcount
        await changelog.record(conn, ChangeEvent("purge", scope.tenant_id, user_id, scope.actor, now))
    await core.vectors.flush()
    return counts


async def expire_due(core: Core, batch: int = 500) -> int:
    """Mark dynamic facts past their expiry as expired, with a change-log row each."""
    now = timeutil.now()
    rows = await core.db.fetchall(
        f"SELECT {factsql.COLUMNS}, tenant_id FROM facts WHERE status = 'active' AND expires_at <= ? LIMIT ?",
        (timeutil.to_db(now), batch),
    )
    if not rows:
        return 0
    async with core.db.transaction() as conn:
        for row in rows:
            fact = factsql.to_fact(row)
            after = await factsql.set_status(conn, fact, "expired", now)
            if after is None:
                continue
            event = ChangeEvent("expire", row[16], fact.user_id, EXPIRY_ACTOR, now, fact.id, fact, after)
            await changelog.record(conn, event)
    await core.vectors.flush()
    return len(rows)
