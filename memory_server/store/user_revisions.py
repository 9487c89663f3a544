"""SQL for `user_revisions`: the revision of each space's user, which triggers bump on every write to the user
(migrations m016, m018), for caches of what is derived from their facts."""

from __future__ import annotations

from memory_server.store.db import Connection, Database


async def get(db: Database, tenant_id: str, user_id: str) -> int | None:
    """The user's current revision; None when nothing of theirs is stored (or they were purged)."""
    row = await db.lookup(
        "SELECT revision FROM user_revisions WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    )
    return None if row is None else int(row["revision"])


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> None:
    """Forget the user's revision (a purge keeps no trace of the id); the clock never goes back, so a cache entry
    made before cannot match a revision the user gets when written again."""
    await conn.execute("DELETE FROM user_revisions WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
