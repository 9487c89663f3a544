"""Migration m012: the retrieval log (what each profile and search returned, and to whom)."""

from __future__ import annotations

import aiosqlite

from memory_server.store.migrations.script import run_script


async def m012_retrieval_log(db: aiosqlite.Connection) -> None:
    """One row per profile or search: the space, user, request, caller, query, and the memories returned with
    their scores (a JSON list, read back whole). Read per user newest first; swept by age."""
    await run_script(
        db,
        """
        CREATE TABLE retrieval_log (
            id INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            query TEXT,
            actor TEXT NOT NULL,
            memories TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX retrieval_log_by_user ON retrieval_log (tenant_id, user_id, id);
        CREATE INDEX retrieval_log_by_time ON retrieval_log (created_at);
        """,
    )
