"""Numbered schema migrations, applied in order and recorded in `_migrations`.

Each migration runs once, inside its own transaction; re-running `migrate` on an up-to-date database
does nothing. Add a new `mNNN_*` function at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from memory_server import timeutil
from memory_server.errors import Misconfigured
from memory_server.store.db import Connection, is_postgres
from memory_server.store.migrations.core import (
    m001_initial,
    m002_job_usage,
    m003_api_keys,
    m004_changelog_tenant_events,
    m005_pad_years,
)
from memory_server.store.migrations.episodes import (
    m006_episodes,
    m020_message_ids_never_reused,
    m021_message_offsets,
    m023_cjk_bigrams,
)
from memory_server.store.migrations.operations import (
    m012_retrieval_log,
    m013_vector_ops_time,
    m015_rate_buckets,
    m017_indexed_users,
    m022_console_signouts,
    m025_chores,
)
from memory_server.store.migrations.revisions import (
    m016_user_revisions,
    m018_revisions_follow_facts,
    m019_revisions_notify,
)
from memory_server.store.migrations.signals import (
    m007_webhooks,
    m008_signals,
    m009_segments,
    m024_users_never_seen_last,
)
from memory_server.store.migrations.tenancy import m010_projects, m011_consent, m014_user_counts

Migration = Callable[[Connection], Awaitable[None]]

MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_job_usage,
    m003_api_keys,
    m004_changelog_tenant_events,
    m005_pad_years,
    m006_episodes,
    m007_webhooks,
    m008_signals,
    m009_segments,
    m010_projects,
    m011_consent,
    m012_retrieval_log,
    m013_vector_ops_time,
    m014_user_counts,
    m015_rate_buckets,
    m016_user_revisions,
    m017_indexed_users,
    m018_revisions_follow_facts,
    m019_revisions_notify,
    m020_message_ids_never_reused,
    m021_message_offsets,
    m022_console_signouts,
    m023_cjk_bigrams,
    m024_users_never_seen_last,
    m025_chores,
]

#: Migrations that rebuild a table other tables reference, keeping every row's id: on SQLite they run with foreign
#: keys off, or dropping the old table would delete every row that references it.
FOREIGN_KEYS_OFF = frozenset({"m020_message_ids_never_reused"})


#: The last migration the PostgreSQL baseline stands for (`migrations.postgres`).
POSTGRES_BASELINE = "m014_user_counts"


def check_known(done: set[str]) -> None:
    """Refuse a database a newer build has migrated: this build's writes would miss what that schema added (a purge
    would leave rows of tables it does not know, text would be indexed the old way), without a word."""
    unknown = sorted(done - {m.__name__ for m in MIGRATIONS})
    if unknown:
        raise Misconfigured(
            f"the database was upgraded by a newer memory-server (its schema has {unknown[-1]}, which this build does "
            "not know): run that build or a newer one, or restore the backup taken before the upgrade",
            field="storage",
        )


def behind(done: set[str]) -> list[str]:
    """The migrations this build would apply to a database that records `done`."""
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]


async def migrate(db: Connection) -> list[str]:
    """Apply the migrations not yet recorded; return their names. A new PostgreSQL database starts from the
    baseline schema, recorded as every migration up to `POSTGRES_BASELINE`."""
    await db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in await db.execute_fetchall("SELECT name FROM _migrations")}
    check_known(done)
    begin = "BEGIN" if is_postgres(db) else "BEGIN IMMEDIATE"
    pending: list[tuple[str, Migration]] = [(m.__name__, m) for m in MIGRATIONS if m.__name__ not in done]
    if is_postgres(db) and not done:
        from memory_server.store.migrations.postgres import baseline

        names = [m.__name__ for m in MIGRATIONS]
        upto = names.index(POSTGRES_BASELINE) + 1
        pending = [("+".join(names[:upto]), baseline), *pending[upto:]]
    applied = []
    for name, migration in pending:
        keys_off = name in FOREIGN_KEYS_OFF and not is_postgres(db)
        if keys_off:
            await db.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: before BEGIN
        await db.execute(begin)
        try:
            await migration(db)
            await db.executemany(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                [(each, timeutil.to_db(timeutil.now())) for each in name.split("+")],
            )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        finally:
            if keys_off:
                await db.execute("PRAGMA foreign_keys = ON")
        applied.extend(name.split("+"))
    return applied
