"""Migrations m006, m020, m021 and m023: episodes (stored messages made searchable by keyword, dates and vector),
whose ids are never given twice, whose times read back as their senders' clocks showed them, and whose Chinese,
Japanese and Korean words are found by keyword."""

from __future__ import annotations

import re

from memory_server import cjk
from memory_server.store.db import Connection, is_postgres
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


async def m020_message_ids_never_reused(db: Connection) -> None:
    """SQLite gave a new message the id after the highest stored one, so deleting the newest message gave its id
    to the next one, which the facts extracted from the deleted one, the change log and the index still named:
    `messages` is rebuilt with AUTOINCREMENT (the runner turns foreign keys off around it, as SQLite's procedure for
    changing a table asks), counting on from the highest id anything still names. PostgreSQL's identity column
    never gave an id twice."""
    if is_postgres(db):
        return
    [[table]] = await db.execute_fetchall("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'")
    rebuilt, found = re.subn(r"\bid INTEGER PRIMARY KEY\b", "id INTEGER PRIMARY KEY AUTOINCREMENT", table, count=1)
    if not found:
        raise RuntimeError(f"m020: unexpected messages table: {table}")
    parts = await db.execute_fetchall(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    )
    await db.execute("PRAGMA legacy_alter_table = ON")  # other tables' triggers name messages: leave them be
    try:
        await db.execute(rebuilt.replace("CREATE TABLE messages", "CREATE TABLE messages_rebuilt", 1))
        await db.execute("INSERT INTO messages_rebuilt SELECT * FROM messages")
        await db.execute("DROP TABLE messages")
        await db.execute("ALTER TABLE messages_rebuilt RENAME TO messages")
    finally:
        await db.execute("PRAGMA legacy_alter_table = OFF")
    for [sql] in parts:
        await db.execute(sql)
    [[named]] = await db.execute_fetchall(
        "SELECT max(coalesce((SELECT max(id) FROM messages), 0), coalesce((SELECT max(message_id) FROM changelog), 0), "
        "coalesce((SELECT max(CAST(j.value AS INTEGER)) FROM facts, json_each(facts.message_ids) AS j), 0))"
    )
    await db.execute("DELETE FROM sqlite_sequence WHERE name = 'messages'")
    await db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", (named,))


async def m021_message_offsets(db: Connection) -> None:
    """The UTC offset each message's time was given with (minutes; NULL for UTC or not said): the sender's day is
    what "yesterday" and "on March 2" mean to them. Older messages read as UTC, as before."""
    await db.execute("ALTER TABLE messages ADD COLUMN utc_offset INTEGER")


#: Keyword rows read and rewritten at a time by m023.
_BATCH = 1_000


async def m023_cjk_bigrams(db: Connection) -> None:
    """The keyword index held a run of CJK letters (a sentence written without spaces) as one token, so no query
    word matched it: each row's text is rewritten with those runs as bigrams (`memory_server.cjk`), as
    `store.episodes.add` now writes it, and FTS5 or the generated `tsvector` reindexes the row. Rows without CJK
    letters are left as they are; the messages keep their text."""
    after = 0
    while rows := list(
        await db.execute_fetchall(
            "SELECT rowid, content FROM episodes_fts WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, _BATCH)
        )
    ):
        after = rows[-1][0]
        changed = [(text, rowid) for rowid, content in rows if (text := cjk.bigrams(content)) != content]
        await db.executemany("UPDATE episodes_fts SET content = ? WHERE rowid = ?", changed)
