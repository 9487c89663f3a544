"""The change log: one typed event per add/update/supersede/expire/delete/purge.

Events are written with the same connection, inside the same transaction, as the change they describe,
so the log can never disagree with the facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from memory_server import timeutil
from memory_server.models import Change, ChangeEventName, Fact


@dataclass(frozen=True)
class ChangeEvent:
    name: ChangeEventName
    tenant_id: str
    user_id: str
    actor: str
    at: datetime
    fact_id: str | None = None
    before: Fact | None = None
    after: Fact | None = None
    request_id: str | None = None


def _dump(fact: Fact | None) -> str | None:
    return None if fact is None else fact.model_dump_json()


async def record(conn: aiosqlite.Connection, event: ChangeEvent) -> None:
    await conn.execute(
        "INSERT INTO changelog (tenant_id, user_id, fact_id, event, before, after, request_id, actor, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.tenant_id,
            event.user_id,
            event.fact_id,
            event.name,
            _dump(event.before),
            _dump(event.after),
            event.request_id,
            event.actor,
            timeutil.to_db(event.at),
        ),
    )


COLUMNS = "id, user_id, fact_id, event, before, after, request_id, actor, created_at"


def to_change(row: aiosqlite.Row) -> Change:
    return Change(
        id=row[0],
        user_id=row[1],
        fact_id=row[2],
        event=row[3],
        before=json.loads(row[4]) if row[4] else None,
        after=json.loads(row[5]) if row[5] else None,
        request_id=row[6],
        actor=row[7],
        created_at=timeutil.from_db(row[8]),
    )
