"""SQL for `retrieval_log`, and the write-behind buffer its rows wait in.

A profile or search must not wait for the SQLite writer, so its entry is appended to `RetrievalBuffer` (no I/O)
and written in batches by a background task (`memory_server.retrieval_log`). A batch leaves the buffer only once
the writer's transaction has begun; a purge discards the user's buffered entries inside its own transaction, so
an entry is either written before the purge (and deleted by it) or never. Another process's purge cannot reach
this buffer: on a shared database each write drops the entries of users purged since they were made (found in the
change log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memory_server import timeutil
from memory_server.store import changelog as changesql
from memory_server.store.db import Connection, Database, Row, page_of


@dataclass(frozen=True)
class Entry:
    """One profile or search; `memories`: what it returned, as a JSON array (a cached profile answer carries
    its own, encoded once)."""

    tenant_id: str
    user_id: str
    request_id: str
    kind: str
    query: str | None
    actor: str
    memories: str
    created_at: str

    def row(self) -> tuple[Any, ...]:
        return (
            self.tenant_id,
            self.user_id,
            self.request_id,
            self.kind,
            self.query,
            self.actor,
            self.memories,
            self.created_at,
        )


class RetrievalBuffer:
    """Entries not yet written; at most `limit`, past which new ones are dropped (and counted) rather than
    letting a stalled writer grow memory without bound."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.dropped = 0
        self._entries: list[Entry] = []
        self._changes_seen: int | None = None  # on a shared database: the change log's last id at the last write

    async def open(self, db: Database) -> None:
        """On a shared database, note where the change log is: purges made after it by other processes are looked
        for at each write (`discard` only reaches this process's buffer)."""
        if db.shared:
            self._changes_seen = await changesql.last_id(db)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Entry) -> None:
        if len(self._entries) >= self.limit:
            self.dropped += 1
            return
        self._entries.append(entry)

    def discard(self, tenant_id: str, user_id: str) -> None:
        """Forget a user's buffered entries (a purge, inside its transaction)."""
        self._entries = [e for e in self._entries if (e.tenant_id, e.user_id) != (tenant_id, user_id)]

    async def write(self, db: Database) -> int:
        """Write what is buffered in one transaction; how many entries were written."""
        if not self._entries:
            return 0
        async with db.transaction() as conn:
            batch, self._entries = self._entries, []
            if self._changes_seen is not None:
                purged, self._changes_seen = await changesql.purges_after(conn, self._changes_seen)
                batch = [e for e in batch if e.created_at > purged.get((e.tenant_id, e.user_id), "")]
            await conn.executemany(
                "INSERT INTO retrieval_log (tenant_id, user_id, request_id, kind, query, actor, memories, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [e.row() for e in batch],
            )
        return len(batch)


async def page(
    db: Database, tenant_id: str, user_id: str, before_id: int | None, limit: int
) -> tuple[list[Row], int | None]:
    """One user's entries, newest first, and the cursor of the next page."""
    where, params = "tenant_id = ? AND user_id = ?", [tenant_id, user_id]
    if before_id is not None:
        where, params = f"{where} AND id < ?", [*params, before_id]
    rows = await db.fetchall(
        f"SELECT * FROM retrieval_log WHERE {where} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    )
    return page_of(rows, limit, "id")


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    cur = await conn.execute("DELETE FROM retrieval_log WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return cur.rowcount


async def sweep(db: Database, before: datetime, limit: int = 1_000) -> int:
    """Delete up to `limit` entries older than `before`; the check reads first, so an idle tick never takes the
    writer's lock."""
    cutoff = timeutil.to_db(before)
    if await db.fetchone("SELECT 1 FROM retrieval_log WHERE created_at < ? LIMIT 1", (cutoff,)) is None:
        return 0
    async with db.transaction() as conn:
        cur = await conn.execute(
            "DELETE FROM retrieval_log WHERE id IN (SELECT id FROM retrieval_log WHERE created_at < ? LIMIT ?)",
            (cutoff, limit),
        )
        return cur.rowcount
