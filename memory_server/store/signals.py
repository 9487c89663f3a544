"""SQL for message signals: what each analysed message said (sentiment, topics, intentions, price)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from extractors.signals import MessageSignals
from memory_server import timeutil
from memory_server.aggregates import Analysed
from memory_server.models import Interaction, TimelineEntry
from memory_server.store.db import Connection, Database, Row, page_of


async def put(
    conn: Connection,
    tenant_id: str,
    user_id: str,
    items: Sequence[tuple[int, datetime, str | None, MessageSignals]],
) -> None:
    """Store (message id, message time, source, signals); analysing a message again replaces its row."""
    await conn.executemany(
        "INSERT INTO message_signals (message_id, tenant_id, user_id, created_at, source, sentiment, "
        "topics, intentions, price_sensitive) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE "
        "SET tenant_id = excluded.tenant_id, user_id = excluded.user_id, created_at = excluded.created_at, "
        "source = excluded.source, sentiment = excluded.sentiment, topics = excluded.topics, "
        "intentions = excluded.intentions, price_sensitive = excluded.price_sensitive",
        [
            (
                message_id,
                tenant_id,
                user_id,
                timeutil.to_db(at),
                source,
                s.sentiment,
                json.dumps(s.topics),
                json.dumps(s.intentions),
                int(s.price_sensitive),
            )
            for message_id, at, source, s in items
        ],
    )


async def window(conn: Connection, tenant_id: str, user_id: str, size: int) -> tuple[list[Analysed], int]:
    """The user's latest `size` analysed messages, oldest first, and how many they have in all."""
    rows = await conn.execute_fetchall(
        "SELECT created_at, sentiment, topics, intentions, price_sensitive FROM message_signals "
        "WHERE tenant_id = ? AND user_id = ? ORDER BY created_at DESC, message_id DESC LIMIT ?",
        (tenant_id, user_id, size),
    )
    count = await conn.execute_fetchall(
        "SELECT count(*) FROM message_signals WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    )
    analysed = [
        Analysed(
            created_at=timeutil.from_db(r["created_at"]),
            sentiment=r["sentiment"],
            topics=json.loads(r["topics"]),
            intentions=json.loads(r["intentions"]),
            price_sensitive=bool(r["price_sensitive"]),
        )
        for r in reversed(list(rows))
    ]
    return analysed, int(next(iter(count))[0])


def _entry(row: Row) -> TimelineEntry:
    return TimelineEntry(
        message_id=row["message_id"],
        timestamp=timeutil.with_offset(timeutil.from_db(row["created_at"]), row["utc_offset"]),
        source_label=row["source"],
        content=row["content"],
        session_id=row["session_id"],
        sentiment=row["sentiment"],
        topics=json.loads(row["topics"]),
        intentions=json.loads(row["intentions"]),
        price_sensitive=bool(row["price_sensitive"]),
    )


async def timeline(
    db: Database, tenant_id: str, user_id: str, cursor: int | None, limit: int
) -> tuple[list[TimelineEntry], int | None]:
    """The user's analysed messages, newest (by message time) first, and the message id the next page follows."""
    where, params = "s.tenant_id = ? AND s.user_id = ?", [tenant_id, user_id]
    if cursor is not None:
        where += (
            " AND (s.created_at, s.message_id) < ((SELECT created_at FROM message_signals WHERE message_id = ?), ?)"
        )
        params.extend((cursor, cursor))
    rows = await db.fetchall(
        "SELECT s.*, m.content, m.session_id, m.utc_offset FROM message_signals s "
        "JOIN messages m ON m.id = s.message_id "
        f"WHERE {where} ORDER BY s.created_at DESC, s.message_id DESC LIMIT ?",
        (*params, limit + 1),
    )
    rows, nxt = page_of(rows, limit, "message_id")
    return [_entry(r) for r in rows], nxt


async def window_vectors(conn: Connection, tenant_id: str, user_id: str, size: int) -> list[bytes]:
    """The stored vectors of the user's latest `size` analysed messages (for `matches` conditions)."""
    rows = await conn.execute_fetchall(
        "SELECT v.vector FROM message_signals s JOIN message_vectors v ON v.message_id = s.message_id "
        "WHERE s.tenant_id = ? AND s.user_id = ? ORDER BY s.created_at DESC, s.message_id DESC LIMIT ?",
        (tenant_id, user_id, size),
    )
    return [r["vector"] for r in rows]


async def interactions(db: Database, tenant_id: str, user_id: str, limit: int) -> list[Interaction]:
    """The user's latest stored messages (every role, last stored first, through the user's message index) with
    the signals of those analysed."""
    rows = await db.fetchall(
        "SELECT m.id, m.role, m.content, m.session_id, m.created_at, m.utc_offset, s.source, s.sentiment, s.topics, "
        "s.intentions, "
        "s.price_sensitive FROM messages m LEFT JOIN message_signals s ON s.message_id = m.id "
        "WHERE m.tenant_id = ? AND m.user_id = ? ORDER BY m.id DESC LIMIT ?",
        (tenant_id, user_id, limit),
    )
    return [
        Interaction(
            message_id=r["id"],
            role=r["role"],
            content=r["content"],
            timestamp=timeutil.with_offset(timeutil.from_db(r["created_at"]), r["utc_offset"]),
            session_id=r["session_id"],
            source_label=r["source"],
            sentiment=r["sentiment"],
            topics=None if r["topics"] is None else json.loads(r["topics"]),
            intentions=None if r["intentions"] is None else json.loads(r["intentions"]),
            price_sensitive=None if r["price_sensitive"] is None else bool(r["price_sensitive"]),
        )
        for r in rows
    ]
