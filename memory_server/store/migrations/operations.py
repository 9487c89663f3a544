"""Migrations m012-m013, m015, m017 and m025: the retrieval log (what each profile and search returned, and to whom),
the time of each vector operation (the outbox's lag), rate-limit buckets shared by processes, the users whose
vectors the index holds, and chores left for the next start."""

from __future__ import annotations

from memory_server import timeutil
from memory_server.store.db import Connection
from memory_server.store.migrations.script import run_script


async def m012_retrieval_log(db: Connection) -> None:
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


async def m013_vector_ops_time(db: Connection) -> None:
    """When each vector operation was queued, so `/metrics` can tell the outbox's lag; set by the column's default
    (UTC, in the `timeutil.to_db` shape at millisecond precision), so no writer has to name it. A table rebuild:
    SQLite adds no column whose default is an expression. Rows queued before this migration date from it."""
    await run_script(
        db,
        """
        CREATE TABLE vector_ops_new (
            id INTEGER PRIMARY KEY,
            fact_id TEXT,
            message_id INTEGER,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            CHECK ((fact_id IS NULL) != (message_id IS NULL))
        );
        INSERT INTO vector_ops_new (id, fact_id, message_id) SELECT id, fact_id, message_id FROM vector_ops;
        DROP TABLE vector_ops;
        ALTER TABLE vector_ops_new RENAME TO vector_ops;
        """,
    )


async def m015_rate_buckets(db: Connection) -> None:
    """Token buckets of the per-key and per-address rate limits, for processes sharing a PostgreSQL database
    (`store.ratelimits`); a single SQLite process keeps its buckets in memory and leaves the table empty. Times
    are the database's clock in seconds."""
    await run_script(
        db,
        """
        CREATE TABLE rate_buckets (
            name TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            at DOUBLE PRECISION NOT NULL
        )
        """,
    )


async def m017_indexed_users(db: Connection) -> None:
    """The users whose facts or episodes the vector index holds (only users too large to score exactly are
    indexed, `store.indexed`): `ready` once all of them are in. A row outlives its user's data, so that deleting
    it still reaches the index."""
    await run_script(
        db,
        """
        CREATE TABLE indexed_users (
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            family TEXT NOT NULL CHECK (family IN ('facts', 'episodes')),
            ready INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (family, tenant_id, user_id)
        )
        """,
    )


async def m022_console_signouts(db: Connection) -> None:
    """Console sessions signed out (`store.signouts`): a session lives in a signed cookie, which a copy would keep
    using after its owner signed out; a row lasts as long as any cookie of the session could (`until`)."""
    await run_script(
        db,
        """
        CREATE TABLE console_signouts (
            session TEXT PRIMARY KEY,
            until TEXT NOT NULL
        )
        """,
    )


async def m025_chores(db: Connection) -> None:
    """Work a migration leaves for the next start, which needs more than the database (`store.chores`). The first:
    an index written before m017 holds every user, though m017 started `indexed_users` empty, so a purge of any of
    them left their vectors there; the next start drops the entries of users the index does not serve. It is due
    where jobs or facts were stored before m017 was applied."""
    await run_script(db, "CREATE TABLE chores (name TEXT PRIMARY KEY, created_at TEXT NOT NULL)")
    [applied] = await db.execute_fetchall("SELECT applied_at FROM _migrations WHERE name = 'm017_indexed_users'")
    before = await db.execute_fetchall(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM jobs WHERE created_at < ?) OR EXISTS (SELECT 1 FROM facts WHERE "
        "created_at < ?)",
        (applied[0], applied[0]),
    )
    if before:
        await db.execute(
            "INSERT INTO chores (name, created_at) VALUES ('drop-unindexed-users', ?)",
            (timeutil.to_db(timeutil.now()),),
        )
