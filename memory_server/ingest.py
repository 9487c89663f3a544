"""Accepting a conversation: its messages and its extraction job commit together, once per payload.

The same messages (same session, source, roles, contents and times) published again map to the first
request instead of a new one, so a retried publish never stores anything twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from datetime import datetime

from memory_server import jobs, timeutil
from memory_server.context import Core, Scope
from memory_server.schemas import InteractionIn


def payload_hash(body: InteractionIn) -> str:
    payload = [
        body.session_id,
        body.source,
        [(m.role, m.content, m.created_at and m.created_at.isoformat()) for m in body.messages],
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


async def store(core: Core, scope: Scope, body: InteractionIn, now: datetime) -> tuple[str, bool]:
    """Store the interaction unless its payload is known; return the request id and whether it was known."""
    digest = payload_hash(body)
    known = await _existing(core, scope, body.user_id, digest)
    if known is not None:
        return known, True
    request_id = str(uuid.uuid4())
    rows = [
        (
            scope.tenant_id,
            body.user_id,
            request_id,
            body.session_id,
            i,
            m.role,
            m.content,
            timeutil.to_db(m.created_at or now),
        )
        for i, m in enumerate(body.messages)
    ]
    try:
        async with core.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO messages (tenant_id, user_id, request_id, session_id, position, role, content, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            await jobs.enqueue(
                conn,
                request_id=request_id,
                tenant_id=scope.tenant_id,
                user_id=body.user_id,
                kind="extract",
                actor=scope.actor,
                at=now,
                source=body.source,
                session_id=body.session_id,
                attributes=body.attributes,
                payload_hash=digest,
            )
    except sqlite3.IntegrityError:  # the same payload raced in
        known = await _existing(core, scope, body.user_id, digest)
        if known is None:
            raise
        return known, True
    return request_id, False


async def _existing(core: Core, scope: Scope, user_id: str, digest: str) -> str | None:
    row = await core.db.fetchone(
        "SELECT request_id FROM jobs WHERE tenant_id = ? AND user_id = ? AND payload_hash = ?",
        (scope.tenant_id, user_id, digest),
    )
    return None if row is None else row[0]
