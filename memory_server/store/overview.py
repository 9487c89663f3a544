"""SQL for the operator's overview: the counts of one memory space, and the backlog of work across all of them."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Backlog:
    """Work waiting across every space: jobs by status, the oldest queued job, and the two outboxes."""

    jobs: dict[str, int]
    oldest_queued: datetime | None
    vector_ops: int
    oldest_vector_op: datetime | None
    deliveries: int
    oldest_delivery: datetime | None


async def backlog(db: Database) -> Backlog:
    """Read at each metrics scrape: a count by status over the jobs index and a few small aggregates."""
    rows = await db.fetchall("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    row = await db.fetchone(
        "SELECT (SELECT min(created_at) FROM jobs WHERE status = 'queued') AS oldest_queued, "
        "(SELECT count(*) FROM vector_ops) AS vector_ops, "
        "(SELECT created_at FROM vector_ops ORDER BY id LIMIT 1) AS oldest_vector_op, "
        "(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS deliveries, "
        "(SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending') AS oldest_delivery"
    )
    assert row is not None
    return Backlog(
        jobs={r["status"]: int(r["n"]) for r in rows},
        oldest_queued=timeutil.from_db(row["oldest_queued"]),
        vector_ops=int(row["vector_ops"]),
        oldest_vector_op=timeutil.from_db(row["oldest_vector_op"]),
        deliveries=int(row["deliveries"]),
        oldest_delivery=timeutil.from_db(row["oldest_delivery"]),
    )
