"""SQL for `rate_buckets`: token buckets shared by the processes of one PostgreSQL deployment.

A bucket is refilled and spent in one upsert that locks only its own row, outside the write lock every other
write takes (`store.postgres`), with the database's clock, so processes on machines whose clocks differ agree.
On SQLite one process serves, and `memory_server.ratelimit` keeps its buckets in memory instead.
"""

from __future__ import annotations

from memory_server.store.db import Database

_NOW = "extract(epoch FROM clock_timestamp())"
_SPEND = f"""
INSERT INTO rate_buckets AS b (name, tokens, at) VALUES (:name, :burst - :spend, {_NOW})
ON CONFLICT (name) DO UPDATE SET tokens = least(:burst, b.tokens + (excluded.at - b.at) * :rate) - :spend,
    at = excluded.at
WHERE least(:burst, b.tokens + (excluded.at - b.at) * :rate) >= 1
RETURNING tokens
"""


async def spend(db: Database, name: str, burst: float, rate: float, amount: float) -> float:
    """Refill `name` at `rate` per second up to `burst` and spend `amount` of it if at least one token is left;
    return what it held before spending (below 1: nothing was spent, the caller is over its limit)."""
    params = {"name": name, "burst": burst, "rate": rate, "spend": amount}
    rows = await db.fetchall(_SPEND, params)  # an autocommit write of one row (see the module's docstring)
    if rows:
        return float(rows[0]["tokens"]) + amount
    row = await db.fetchone(
        f"SELECT least(:burst, tokens + ({_NOW} - at) * :rate) AS tokens FROM rate_buckets WHERE name = :name", params
    )
    return 0.0 if row is None else float(row["tokens"])


async def sweep(db: Database, idle_seconds: float) -> None:
    """Forget buckets untouched for `idle_seconds` (full again by then): client addresses are unbounded."""
    await db.fetchall(f"DELETE FROM rate_buckets WHERE at < {_NOW} - :idle", {"idle": idle_seconds})
