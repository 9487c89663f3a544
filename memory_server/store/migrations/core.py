"""Migrations m001-m005: messages, jobs, facts, the change log, config versions and API keys."""

from __future__ import annotations

from memory_server.store.db import Connection
from memory_server.store.migrations.script import run_script


async def m001_initial(db: Connection) -> None:
    await run_script(
        db,
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            session_id TEXT,
            position INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_by_user ON messages (tenant_id, user_id, id);
        CREATE INDEX messages_by_request ON messages (request_id, position);

        CREATE TABLE jobs (
            request_id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            source TEXT,
            session_id TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            payload_hash TEXT,
            actor TEXT NOT NULL,
            run_after TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE UNIQUE INDEX jobs_by_payload ON jobs (tenant_id, user_id, payload_hash)
            WHERE payload_hash IS NOT NULL;
        CREATE INDEX jobs_due ON jobs (status, run_after);
        CREATE INDEX jobs_by_user ON jobs (tenant_id, user_id);

        CREATE TABLE facts (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('static', 'dynamic')),
            content TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            topic TEXT,
            source TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            confidence REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'expired', 'deleted')),
            superseded_by TEXT,
            request_id TEXT,
            message_ids TEXT NOT NULL DEFAULT '[]',
            config_version INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            expires_at TEXT
        );
        CREATE INDEX facts_by_user ON facts (tenant_id, user_id, status, updated_at);
        CREATE UNIQUE INDEX facts_active_hash ON facts (tenant_id, user_id, content_hash)
            WHERE status = 'active';
        CREATE INDEX facts_expiring ON facts (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
        CREATE INDEX facts_by_request ON facts (request_id);

        CREATE TABLE fact_vectors (
            fact_id TEXT PRIMARY KEY REFERENCES facts (id) ON DELETE CASCADE,
            model_id TEXT NOT NULL,
            vector BLOB NOT NULL
        );

        CREATE TABLE vector_ops (
            id INTEGER PRIMARY KEY,
            fact_id TEXT NOT NULL
        );

        CREATE TABLE changelog (
            id INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            fact_id TEXT,
            event TEXT NOT NULL,
            before TEXT,
            after TEXT,
            request_id TEXT,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX changelog_by_user ON changelog (tenant_id, user_id, id);
        CREATE INDEX changelog_by_request ON changelog (tenant_id, request_id, id);
        CREATE INDEX changelog_by_tenant ON changelog (tenant_id, id);

        CREATE TABLE config_versions (
            tenant_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            body TEXT NOT NULL,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, version)
        );
        """,
    )


async def m002_job_usage(db: Connection) -> None:
    """Token usage of the model calls a job made, and the last reply it could not use."""
    await run_script(
        db,
        """
        ALTER TABLE jobs ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN raw_output TEXT;
        """,
    )


async def m003_api_keys(db: Connection) -> None:
    """API keys: random secrets kept only as sha256 hashes, each bound to a tenant and a role."""
    await run_script(
        db,
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
            name TEXT,
            prefix TEXT NOT NULL,
            secret_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);
        """,
    )


async def m004_changelog_tenant_events(db: Connection) -> None:
    """Change-log rows about the tenant rather than one user (keys created and revoked, open mode): user_id
    becomes nullable, which SQLite can only do by rebuilding the table."""
    await run_script(
        db,
        """
        CREATE TABLE changelog_new (
            id INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT,
            fact_id TEXT,
            event TEXT NOT NULL,
            before TEXT,
            after TEXT,
            request_id TEXT,
            actor TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        INSERT INTO changelog_new SELECT id, tenant_id, user_id, fact_id, event, before, after, request_id, actor,
            created_at FROM changelog;
        DROP TABLE changelog;
        ALTER TABLE changelog_new RENAME TO changelog;
        CREATE INDEX changelog_by_user ON changelog (tenant_id, user_id, id);
        CREATE INDEX changelog_by_request ON changelog (tenant_id, request_id, id);
        CREATE INDEX changelog_by_tenant ON changelog (tenant_id, id);
        """,
    )


async def m005_pad_years(db: Connection) -> None:
    """Pad years before 1000 to four digits (`999-…` -> `0999-…`), which older versions stored unpadded and
    could not read back. Only message times (client-given) and the expiries counted from them could be such."""
    for table, column in (("messages", "created_at"), ("facts", "expires_at")):
        await db.execute(
            f"UPDATE {table} SET {column} = substr('0000' || {column}, instr({column}, '-')) "
            f"WHERE instr({column}, '-') BETWEEN 2 AND 4"
        )
