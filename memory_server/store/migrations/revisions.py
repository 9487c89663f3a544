"""Migrations m016, m018 and m019: a revision per space and user, bumped by triggers in the transaction of every
write to the user's facts (m016 also followed messages, signals, consent and the user's record; m018 stopped that;
m019 has PostgreSQL also notify each bump).

Readers that keep something derived from a user's facts (the profile cache) compare the revision they built it
at with the current one: one primary-key read says whether any of them changed. The triggers catch every write,
whichever code path makes it. Revisions come from one clock, so a user purged and written again
never gets back a revision a cache holds (with Postgres, a sequence plays the clock).
"""

from __future__ import annotations

from memory_server.store.db import Connection, is_postgres
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


async def m016_user_revisions(db: Connection) -> None:
    """The clock, one revision per space and user that has any memory (those stored before start at 1), and the
    triggers on every table a profile is built from or that describes the user."""
    if is_postgres(db):
        await _postgres(db)
        return
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


_PG_FUNCTIONS = (
    """CREATE FUNCTION user_revised(space TEXT, who TEXT) RETURNS void LANGUAGE sql AS $$
        INSERT INTO user_revisions (tenant_id, user_id, revision) VALUES (space, who, nextval('revision_clock'))
        ON CONFLICT (tenant_id, user_id) DO UPDATE SET revision = excluded.revision
    $$""",
    """CREATE FUNCTION owned_revised() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM user_revised(OLD.tenant_id, OLD.user_id);
        ELSE
            PERFORM user_revised(NEW.tenant_id, NEW.user_id);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION fact_vector_revised() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM user_revised(f.tenant_id, f.user_id) FROM facts f
            WHERE f.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.fact_id ELSE NEW.fact_id END;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION message_vector_revised() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM user_revised(m.tenant_id, m.user_id) FROM messages m
            WHERE m.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.message_id ELSE NEW.message_id END;
        RETURN NULL;
    END $$""",
)


async def _postgres(db: Connection) -> None:
    """The same on PostgreSQL: a sequence is the clock (no row every writer would queue on), plpgsql triggers."""
    await run_script(
        db,
        """
        CREATE SEQUENCE revision_clock START 2;
        CREATE TABLE user_revisions (
            tenant_id TEXT COLLATE "C" NOT NULL,
            user_id TEXT COLLATE "C" NOT NULL,
            revision BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        );
        INSERT INTO user_revisions (tenant_id, user_id, revision)
            SELECT tenant_id, user_id, 1 FROM facts UNION SELECT tenant_id, user_id, 1 FROM messages
            UNION SELECT tenant_id, user_id, 1 FROM users UNION SELECT tenant_id, user_id, 1 FROM consent
        """,
    )
    for statement in _PG_FUNCTIONS:
        await db.execute(statement)
    functions = {"fact_vectors": "fact_vector_revised", "message_vectors": "message_vector_revised"}
    for table in (*_OWNED, *_CHILD):
        await db.execute(
            f"CREATE TRIGGER {table}_revision AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {functions.get(table, 'owned_revised')}()"
        )


#: What m018 stops following: writes that never change a profile without `q`, which is built from live facts alone.
_UNRELATED = ("messages", "users", "consent", "message_signals", "message_vectors")


async def m018_revisions_follow_facts(db: Connection) -> None:
    """A revision follows the user's facts (and their vectors) only. A chat app publishes every turn: with messages,
    signals, consent and the user's record bumping it too, every profile after a turn was a fresh build, although a
    turn that changes no fact leaves the answer as it was."""
    if is_postgres(db):
        for table in _UNRELATED:
            await db.execute(f"DROP TRIGGER IF EXISTS {table}_revision ON {table}")
        await db.execute("DROP FUNCTION IF EXISTS message_vector_revised()")
        return
    for table in _UNRELATED:
        for event in ("insert", "update", "delete"):
            await db.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_revision")


async def m019_revisions_notify(db: Connection) -> None:
    """With PostgreSQL a revision also notifies the channel `memory_user_revised` with the space and user, which
    PostgreSQL sends when the transaction commits (once per distinct payload): a process can then drop what it keeps
    of the user as soon as it is told (`store.revision_feed`) instead of reading the revision on every request.
    The transaction-local setting `memory.revised` says a transaction revised someone (only those are marked).
    Nothing on SQLite, whose file one process serves."""
    if not is_postgres(db):
        return
    await db.execute(
        """CREATE OR REPLACE FUNCTION user_revised(space TEXT, who TEXT) RETURNS void LANGUAGE sql AS $$
            INSERT INTO user_revisions (tenant_id, user_id, revision) VALUES (space, who, nextval('revision_clock'))
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET revision = excluded.revision;
            SELECT set_config('memory.revised', 'on', true);
            SELECT pg_notify('memory_user_revised', json_build_array(space, who)::text);
        $$"""
    )
