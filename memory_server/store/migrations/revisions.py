"""Migration m015: a revision per space and user, bumped by triggers in the transaction of every write to them.

Readers that keep something derived from a user's memory (the profile cache) compare the revision they built it
at with the current one: one primary-key read says whether anything of the user changed. The triggers catch
every write, whichever code path makes it. Revisions come from one clock, so a user purged and written again
never gets back a revision a cache holds (with Postgres, a sequence plays the clock).
"""

from __future__ import annotations

import aiosqlite

from memory_server.store.migrations.script import run_script

#: Tables whose rows name their space and user, and the writes that change a profile through them.
_OWNED = ("facts", "messages", "users", "consent", "message_signals")
#: Tables keyed by a row of another (vectors), and where their user is found.
_CHILD = {"fact_vectors": ("fact_id", "facts"), "message_vectors": ("message_id", "messages")}

_TICK = "UPDATE revision_clock SET value = value + 1"
_CLOCK = "(SELECT value FROM revision_clock)"
_UPSERT = "ON CONFLICT (tenant_id, user_id) DO UPDATE SET revision = excluded.revision"


def _owned(table: str, event: str) -> str:
    row = "old" if event == "DELETE" else "new"
    return f"""CREATE TRIGGER {table}_{event.lower()}_revision AFTER {event} ON {table} BEGIN
        {_TICK};
        INSERT INTO user_revisions (tenant_id, user_id, revision)
            VALUES ({row}.tenant_id, {row}.user_id, {_CLOCK}) {_UPSERT};
    END"""


def _child(table: str, event: str, key: str, parent: str) -> str:
    row = "old" if event == "DELETE" else "new"
    return f"""CREATE TRIGGER {table}_{event.lower()}_revision AFTER {event} ON {table} BEGIN
        {_TICK};
        INSERT INTO user_revisions (tenant_id, user_id, revision)
            SELECT tenant_id, user_id, {_CLOCK} FROM {parent} WHERE id = {row}.{key} {_UPSERT};
    END"""


async def m015_user_revisions(db: aiosqlite.Connection) -> None:
    """The clock, one revision per space and user that has any memory (those stored before start at 1), and the
    triggers on every table a profile is built from or that describes the user."""
    await run_script(
        db,
        """
        CREATE TABLE revision_clock (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
        INSERT INTO revision_clock (id, value) VALUES (1, 1);
        CREATE TABLE user_revisions (
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        ) WITHOUT ROWID;
        INSERT INTO user_revisions (tenant_id, user_id, revision)
            SELECT tenant_id, user_id, 1 FROM facts UNION SELECT tenant_id, user_id, 1 FROM messages
            UNION SELECT tenant_id, user_id, 1 FROM users UNION SELECT tenant_id, user_id, 1 FROM consent
        """,
    )
    for event in ("INSERT", "UPDATE", "DELETE"):
        for table in _OWNED:
            await db.execute(_owned(table, event))
        for table, (key, parent) in _CHILD.items():
            await db.execute(_child(table, event, key, parent))
