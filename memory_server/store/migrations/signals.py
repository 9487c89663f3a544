"""Migrations m007-m009: webhooks, signals with users and their attributes, segments."""

from __future__ import annotations

from memory_server.store.db import Connection, is_postgres
from memory_server.store.migrations.script import run_script

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


async def m008_signals(db: Connection) -> None:
    """A record per user (attributes, source, first/last seen, message count, aggregates, the aggregates'
    filterable columns) and the signals of each analysed message. Users who have messages get their record
    now; signals come with the next processed message (or a re-extraction)."""
    await run_script(
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


async def m007_webhooks(db: Connection) -> None:
    """Webhooks: the URLs a tenant registered (`webhooks`, with the secret deliveries are signed with), the outbox
    of events (`webhook_events`: one row per event, its id the `webhook-id` of every attempt to deliver it) and
    one delivery per event and webhook (`webhook_deliveries`, with its attempts and schedule; `claimed_at` is set
    while an attempt is in flight). Deleting a webhook or an event deletes its deliveries."""
    await run_script(
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


async def m009_segments(db: Connection) -> None:
    """Segments: a tenant's named conditions over its users (`condition` as given; `vectors` the embedded texts
    of its `matches` parts, by `model_id`), the users in each with when they entered, and the backfill that
    evaluates every user after a segment is created or its condition changes (`backfill_after`: the last
    user done; NULL once every user is)."""
    await run_script(
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


async def m024_users_never_seen_last(db: Connection) -> None:
    """The user list shows users never seen (a record made by attributes alone) last: PostgreSQL sorts NULLs first
    when descending, where SQLite sorts them last, so its index (which the list walks) is made in that order too."""
    if not is_postgres(db):
        return
    await db.execute("DROP INDEX users_by_seen")
    await db.execute(
        "CREATE INDEX users_by_seen ON users "
        "(tenant_id, last_seen DESC NULLS LAST, user_id, churn_risk_score, sentiment_trend, analysed_count)"
    )
