"""Migrations m010-m011 and m014: projects inside tenants, consent per user, and each space's user count."""

from __future__ import annotations

from memory_server import timeutil
from memory_server.store.db import Connection
from memory_server.store.migrations.script import run_script


async def m010_projects(db: Connection) -> None:
    """Projects: separate memory spaces inside a tenant, numbered per tenant from 1 (the default project, whose
    space is the tenant id itself, so everything stored before stays where it is). Every tenant known so far gets
    its default project; `api_keys.project_id` limits a key to one project (NULL: any of its tenant's)."""
    await run_script(
        db,
        """
        CREATE TABLE projects (
            tenant_id TEXT NOT NULL,
            id INTEGER NOT NULL,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, id)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX projects_by_name ON projects (tenant_id, name);
        ALTER TABLE api_keys ADD COLUMN project_id INTEGER
        """,
    )
    await db.execute(
        "INSERT INTO projects (tenant_id, id, name, created_at) "
        "SELECT tenant_id, 1, 'default', ? FROM ("
        "SELECT tenant_id FROM api_keys UNION SELECT tenant_id FROM changelog UNION SELECT tenant_id FROM users "
        "UNION SELECT tenant_id FROM config_versions)",
        (timeutil.to_db(timeutil.now()),),
    )


async def m011_consent(db: Connection) -> None:
    """Consent: whether a user may be remembered, per space and user id; a user can be marked before their first
    message, so it is a table of its own rather than a column of `users`. No row: they may."""
    await run_script(
        db,
        """
        CREATE TABLE consent (
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            remember INTEGER NOT NULL,
            reason TEXT,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        ) WITHOUT ROWID;
        """,
    )


async def m014_user_counts(db: Connection) -> None:
    """How many users each space has, kept by triggers on `users`: an unfiltered user list's total without
    counting the space's index entries (100,000 of them cost milliseconds on every page)."""
    await run_script(
        db,
        """
        CREATE TABLE user_counts (tenant_id TEXT PRIMARY KEY, users INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO user_counts (tenant_id, users) SELECT tenant_id, count(*) FROM users GROUP BY tenant_id
        """,
    )
    await db.execute(
        """CREATE TRIGGER users_counted AFTER INSERT ON users BEGIN
            INSERT INTO user_counts (tenant_id, users) VALUES (new.tenant_id, 1)
                ON CONFLICT (tenant_id) DO UPDATE SET users = users + 1;
        END"""
    )
    await db.execute(
        """CREATE TRIGGER users_uncounted AFTER DELETE ON users BEGIN
            UPDATE user_counts SET users = users - 1 WHERE tenant_id = old.tenant_id;
        END"""
    )
