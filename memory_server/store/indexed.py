"""SQL for `indexed_users`: whose facts or episodes the vector index holds.

Search scores a user's memory exactly from the database up to `search.exact_max_facts` items, so only users above
that need the index. Indexing only them keeps the index (and the memory a loaded Chroma collection takes) to the
users who use it: a user is asked for by the first search that finds them too large (`serves`), filled by the next
flush (`filling`, `ready`), and from then on kept in line by the outbox like before.
"""

from __future__ import annotations

from typing import Literal

from memory_server.store.db import Database

Family = Literal["facts", "episodes"]


async def serves(db: Database, tenant_id: str, user_id: str, family: Family) -> bool:
    """Whether the index holds all of the user's `family`; if the user is not in it yet, ask for them."""
    row = await db.fetchone(
        "SELECT ready FROM indexed_users WHERE family = ? AND tenant_id = ? AND user_id = ?",
        (family, tenant_id, user_id),
    )
    if row is not None:
        return bool(row["ready"])
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO indexed_users (tenant_id, user_id, family) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (tenant_id, user_id, family),
        )
    return False


async def includes(db: Database, tenant_id: str, user_id: str, family: Family) -> bool:
    """Whether the index holds the user's `family` or was asked to (unlike `serves`, asks for nothing)."""
    row = await db.fetchone(
        "SELECT 1 FROM indexed_users WHERE family = ? AND tenant_id = ? AND user_id = ?", (family, tenant_id, user_id)
    )
    return row is not None


async def forget(db: Database, tenant_id: str, user_id: str) -> None:
    """Drop a purged user from the index's users (once their vectors have left it: see `forgetting.purge_user`)."""
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM indexed_users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))


async def users(db: Database, family: Family) -> set[tuple[str, str]]:
    """(tenant, user) of every user whose `family` the index holds or is filling (few: the large ones)."""
    rows = await db.fetchall("SELECT tenant_id, user_id FROM indexed_users WHERE family = ?", (family,))
    return {(r["tenant_id"], r["user_id"]) for r in rows}


async def filling(db: Database, family: Family) -> list[tuple[str, str]]:
    rows = await db.fetchall(
        "SELECT tenant_id, user_id FROM indexed_users WHERE family = ? AND ready = 0 ORDER BY tenant_id, user_id",
        (family,),
    )
    return [(r["tenant_id"], r["user_id"]) for r in rows]


async def mark_ready(db: Database, tenant_id: str, user_id: str, family: Family) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE indexed_users SET ready = 1 WHERE family = ? AND tenant_id = ? AND user_id = ?",
            (family, tenant_id, user_id),
        )


async def refill(db: Database, family: Family) -> None:
    """Have the next flush put every user the index should hold in again (their index was lost)."""
    async with db.transaction() as conn:
        await conn.execute("UPDATE indexed_users SET ready = 0 WHERE family = ?", (family,))
