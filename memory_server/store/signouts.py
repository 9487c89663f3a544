"""SQL for `console_signouts`: console sessions signed out, until every cookie of theirs has expired anyway."""

from __future__ import annotations

from datetime import datetime

from memory_server import timeutil
from memory_server.store.db import Database


async def record(db: Database, session: str, until: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO console_signouts (session, until) VALUES (?, ?) ON CONFLICT (session) DO NOTHING",
            (session, timeutil.to_db(until)),
        )


async def signed_out(db: Database, session: str) -> bool:
    return await db.lookup("SELECT 1 FROM console_signouts WHERE session = ?", (session,)) is not None


async def sweep(db: Database, now: datetime) -> None:
    """Forget sign-outs whose sessions' cookies have all expired."""
    if await db.fetchone("SELECT 1 FROM console_signouts WHERE until < ? LIMIT 1", (timeutil.to_db(now),)):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM console_signouts WHERE until < ?", (timeutil.to_db(now),))
