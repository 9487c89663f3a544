"""SQL for the operator's overview of one memory space: how many users, live facts, messages and requests."""

from __future__ import annotations

from datetime import datetime

from memory_server import timeutil
from memory_server.store.db import Database


async def counts(db: Database, tenant_id: str, now: datetime) -> dict[str, int]:
    """Users, live facts and stored messages of the space (each one count over an index)."""
    row = await db.fetchone(
        "SELECT (SELECT count(*) FROM users WHERE tenant_id = ?) AS users, "
        "(SELECT count(*) FROM facts WHERE tenant_id = ? AND status = 'active' "
        "AND (expires_at IS NULL OR expires_at > ?)) AS live_facts, "
        "(SELECT count(*) FROM messages WHERE tenant_id = ?) AS messages",
        (tenant_id, tenant_id, timeutil.to_db(now), tenant_id),
    )
    return {name: int(row[name]) for name in ("users", "live_facts", "messages")} if row else {}


async def requests_by_status(db: Database, tenant_id: str) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, count(*) AS n FROM jobs WHERE tenant_id = ? GROUP BY status", (tenant_id,))
    return {r["status"]: int(r["n"]) for r in rows}
