"""Migration m006: episodes (stored messages made searchable by keyword, dates and vector)."""

from __future__ import annotations

from memory_server.store.db import Connection
from memory_server.store.migrations.script import run_script


async def m006_episodes(db: Connection) -> None:
    """Messages become searchable episodes: a vector per message (`message_vectors`) and a keyword index
    (`episodes_fts`, FTS5 with porter stemming; `scope` holds one token per tenant and user so a query never
    reads another user's rows; `dates` holds the days a message speaks of, see `memory_server.when`). The
    vector outbox takes message ids beside fact ids; the change log can name the message an event is about.
    Stored messages of the default episode roles are indexed now and embedded at the next start."""
    await run_script(
        db,
        """
        CREATE TABLE message_vectors (
            message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            vector BLOB NOT NULL
        );
        CREATE VIRTUAL TABLE episodes_fts USING fts5 (content, scope, dates, tokenize = 'porter unicode61');
        CREATE VIRTUAL TABLE episodes_terms USING fts5vocab (episodes_fts, 'row');
        CREATE TABLE vector_ops_new (
            id INTEGER PRIMARY KEY,
            fact_id TEXT,
            message_id INTEGER,
            CHECK ((fact_id IS NULL) != (message_id IS NULL))
        );
        INSERT INTO vector_ops_new (id, fact_id) SELECT id, fact_id FROM vector_ops;
        DROP TABLE vector_ops;
        ALTER TABLE vector_ops_new RENAME TO vector_ops;
        ALTER TABLE changelog ADD COLUMN message_id INTEGER;
        CREATE INDEX messages_by_time ON messages (tenant_id, created_at);
        """,
    )
    rows = await db.execute_fetchall("SELECT id FROM messages WHERE role IN ('user', 'assistant')")
    await db.executemany("INSERT INTO vector_ops (message_id) VALUES (?)", [(r[0],) for r in rows])
    await db.execute(
        "INSERT INTO episodes_fts (rowid, content, scope, dates) SELECT id, content, "
        "episode_scope(tenant_id, user_id), episode_dates(content, created_at) FROM messages "
        "WHERE role IN ('user', 'assistant')"
    )
