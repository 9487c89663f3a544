"""Numbered schema migrations, applied in order and recorded in `_migrations`.

Each migration runs once, inside its own transaction; re-running `migrate` on an up-to-date database
does nothing. Add a new `mNNN_*` function at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from memory_server import timeutil
from memory_server.store.migrations.core import (
    m001_initial,
    m002_job_usage,
    m003_api_keys,
    m004_changelog_tenant_events,
    m005_pad_years,
)
from memory_server.store.migrations.episodes import m006_episodes
from memory_server.store.migrations.operations import m012_retrieval_log, m013_vector_ops_time
from memory_server.store.migrations.revisions import m015_user_revisions
from memory_server.store.migrations.signals import m007_webhooks, m008_signals, m009_segments
from memory_server.store.migrations.tenancy import m010_projects, m011_consent, m014_user_counts

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]

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
    m015_user_revisions,
]


async def migrate(db: aiosqlite.Connection) -> list[str]:
    """Apply the migrations not yet recorded; return their names."""
    await db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    await db.commit()
    async with db.execute("SELECT name FROM _migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            await migration(db)
            await db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, timeutil.to_db(timeutil.now())),
            )
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        applied.append(name)
    return applied
