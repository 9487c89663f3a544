"""Numbered schema migrations, applied in order and recorded in `_migrations`.

Each migration runs once, inside its own transaction; re-running `migrate` on an up-to-date database
does nothing. Add a new `mNNN_*` function at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from memory_server import timeutil

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]


async def _run_script(db: aiosqlite.Connection, script: str) -> None:
    """Run statements one by one: `executescript` would commit the migration's open transaction."""
    for statement in script.split(";\n"):
        if statement.strip():
            await db.execute(statement)


async def m001_initial(db: aiosqlite.Connection) -> None:
    await _run_script(
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


async def m002_job_usage(db: aiosqlite.Connection) -> None:
    """Token usage of the model calls a job made, and the last reply it could not use."""
    await _run_script(
        db,
        """
        ALTER TABLE jobs ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN raw_output TEXT;
        """,
    )


async def m003_api_keys(db: aiosqlite.Connection) -> None:
    """API keys: random secrets kept only as sha256 hashes, each bound to a tenant and a role."""
    await _run_script(
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


async def m004_changelog_tenant_events(db: aiosqlite.Connection) -> None:
    """Change-log rows about the tenant rather than one user (keys created and revoked, open mode): user_id
    becomes nullable, which SQLite can only do by rebuilding the table."""
    await _run_script(
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


async def m005_pad_years(db: aiosqlite.Connection) -> None:
    """Pad years before 1000 to four digits (`999-…` -> `0999-…`), which older versions stored unpadded and
    could not read back. Only message times (client-given) and the expiries counted from them could be such."""
    for table, column in (("messages", "created_at"), ("facts", "expires_at")):
        await db.execute(
            f"UPDATE {table} SET {column} = substr('0000' || {column}, instr({column}, '-')) "
            f"WHERE instr({column}, '-') BETWEEN 2 AND 4"
        )


async def m006_episodes(db: aiosqlite.Connection) -> None:
    """Messages become searchable episodes: a vector per message (`message_vectors`) and a keyword index
    (`episodes_fts`, FTS5 with porter stemming; `scope` holds one token per tenant and user so a query never
    reads another user's rows; `dates` holds the days a message speaks of, see `memory_server.when`). The
    vector outbox takes message ids beside fact ids; the change log can name the message an event is about.
    Stored messages of the default episode roles are indexed now and embedded at the next start."""
    await _run_script(
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


_USER_ATTRIBUTE_TRIGGERS = (
    """CREATE TRIGGER users_attributes_added AFTER INSERT ON users BEGIN
        INSERT INTO user_attributes (tenant_id, user_id, name, value)
            SELECT new.tenant_id, new.user_id, key, value FROM json_each(new.attributes);
    END""",
    """CREATE TRIGGER users_attributes_changed AFTER UPDATE OF attributes ON users
        WHEN old.attributes IS NOT new.attributes BEGIN
        DELETE FROM user_attributes WHERE tenant_id = old.tenant_id AND user_id = old.user_id;
        INSERT INTO user_attributes (tenant_id, user_id, name, value)
            SELECT new.tenant_id, new.user_id, key, value FROM json_each(new.attributes);
    END""",
    """CREATE TRIGGER users_attributes_removed AFTER DELETE ON users BEGIN
        DELETE FROM user_attributes WHERE tenant_id = old.tenant_id AND user_id = old.user_id;
    END""",
)


async def m008_signals(db: aiosqlite.Connection) -> None:
    """A record per user (attributes, source, first/last seen, message count, aggregates, the aggregates'
    filterable columns) and the signals of each analysed message. Users who have messages get their record
    now; signals come with the next processed message (or a re-extraction)."""
    await _run_script(
        db,
        """
        CREATE TABLE users (
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            source TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            first_seen TEXT,
            last_seen TEXT,
            message_count INTEGER NOT NULL DEFAULT 0,
            analysed_count INTEGER NOT NULL DEFAULT 0,
            aggregates TEXT,
            churn_risk_score REAL,
            sentiment_trend TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        ) WITHOUT ROWID;
        -- The user list reads no user's row but those of its page: it walks users_by_seen (in the list's order,
        -- with the columns it filters on) or counts and sorts from the other two.
        CREATE INDEX users_by_seen ON users (
            tenant_id, last_seen DESC, user_id, churn_risk_score, sentiment_trend, analysed_count
        );
        CREATE INDEX users_by_churn ON users (tenant_id, churn_risk_score);
        CREATE INDEX users_by_trend ON users (tenant_id, sentiment_trend, analysed_count, churn_risk_score);

        -- Each user's attributes, one row per top-level key with its value as json_extract reads it (kept by
        -- _USER_ATTRIBUTE_TRIGGERS), so that attribute filters are index searches, not JSON parsed for every user.
        CREATE TABLE user_attributes (
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value,
            PRIMARY KEY (tenant_id, user_id, name)
        ) WITHOUT ROWID;
        CREATE INDEX user_attributes_by_value ON user_attributes (tenant_id, name, value);

        CREATE TABLE message_signals (
            message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            source TEXT,
            sentiment REAL NOT NULL,
            topics TEXT NOT NULL,
            intentions TEXT NOT NULL,
            price_sensitive INTEGER NOT NULL
        );
        CREATE INDEX signals_by_user ON message_signals (tenant_id, user_id, created_at, message_id);

        INSERT INTO users (tenant_id, user_id, first_seen, last_seen, message_count, created_at, updated_at)
            SELECT tenant_id, user_id, min(created_at), max(created_at), count(*),
                   strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            FROM messages GROUP BY tenant_id, user_id;
        """,
    )
    for trigger in _USER_ATTRIBUTE_TRIGGERS:  # one statement each: their bodies hold several
        await db.execute(trigger)


async def m007_webhooks(db: aiosqlite.Connection) -> None:
    """Webhooks: the URLs a tenant registered (`webhooks`, with the secret deliveries are signed with), the outbox
    of events (`webhook_events`: one row per event, its id the `webhook-id` of every attempt to deliver it) and
    one delivery per event and webhook (`webhook_deliveries`, with its attempts and schedule; `claimed_at` is set
    while an attempt is in flight). Deleting a webhook or an event deletes its deliveries."""
    await _run_script(
        db,
        """
        CREATE TABLE webhooks (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            url TEXT NOT NULL,
            events TEXT NOT NULL,
            secret TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id, created_at);

        CREATE TABLE webhook_events (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            user_id TEXT,
            type TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX webhook_events_by_user ON webhook_events (tenant_id, user_id);

        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
            event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            claimed_at TEXT,
            last_status_code INTEGER,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT,
            UNIQUE (event_id, webhook_id)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (tenant_id, webhook_id, id);
        CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE status != 'pending';
        CREATE INDEX webhook_deliveries_of_webhook ON webhook_deliveries (webhook_id);
        """,
    )


async def m009_segments(db: aiosqlite.Connection) -> None:
    """Segments: a tenant's named conditions over its users (`condition` as given; `vectors` the embedded texts
    of its `matches` parts, by `model_id`), the users in each with when they entered, and the backfill that
    evaluates every user after a segment is created or its condition changes (`backfill_after`: the last
    user done; NULL once every user is)."""
    await _run_script(
        db,
        """
        CREATE TABLE segments (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT,
            condition TEXT NOT NULL,
            model_id TEXT NOT NULL,
            vectors BLOB,
            backfill_state TEXT NOT NULL,
            backfill_after TEXT,
            backfill_done INTEGER NOT NULL DEFAULT 0,
            backfill_total INTEGER NOT NULL DEFAULT 0,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX segments_by_name ON segments (tenant_id, name);
        CREATE INDEX segments_backfilling ON segments (backfill_state) WHERE backfill_state = 'running';

        CREATE TABLE segment_members (
            segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
            tenant_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            entered_at TEXT NOT NULL,
            PRIMARY KEY (segment_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX segment_members_by_user ON segment_members (tenant_id, user_id);
        """,
    )


async def m010_projects(db: aiosqlite.Connection) -> None:
    """Projects: separate memory spaces inside a tenant, numbered per tenant from 1 (the default project, whose
    space is the tenant id itself, so everything stored before stays where it is). Every tenant known so far gets
    its default project; `api_keys.project_id` limits a key to one project (NULL: any of its tenant's)."""
    await _run_script(
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


async def m011_consent(db: aiosqlite.Connection) -> None:
    """Consent: whether a user may be remembered, per space and user id; a user can be marked before their first
    message, so it is a table of its own rather than a column of `users`. No row: they may."""
    await _run_script(
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
