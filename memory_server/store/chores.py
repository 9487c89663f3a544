"""SQL for `chores`: work a migration left for the next start, done once by the first process that starts."""

from __future__ import annotations

from memory_server.store.db import Database

#: An index from before m017 holds users `indexed_users` does not name: drop their entries (`lifecycle`).
DROP_UNINDEXED_USERS = "drop-unindexed-users"


async def pending(db: Database, name: str) -> bool:
    return bool(await db.fetchall("SELECT 1 FROM chores WHERE name = ?", (name,)))


async def done(db: Database, name: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM chores WHERE name = ?", (name,))
