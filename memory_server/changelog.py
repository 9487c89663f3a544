"""The change log: one typed event per add/update/supersede/expire/delete/purge.

Events are written with the same connection, inside the same transaction, as the change they describe,
so the log can never disagree with the facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import aiosqlite
from pydantic import BaseModel

from memory_server import timeutil
from memory_server.db import Database
from memory_server.models import Change, ChangeEventName, Fact, FactUpdate, Page, RequestChanges
from memory_server.schemas import ChangelogFilter


@dataclass(frozen=True)
class ChangeEvent:
    """A change to a user's facts, or (user_id None) to the tenant's keys and access."""

    name: ChangeEventName
    tenant_id: str
    user_id: str | None
    actor: str
    at: datetime
    fact_id: str | None = None
    before: BaseModel | None = None
    after: BaseModel | None = None
    request_id: str | None = None


def _dump(record: BaseModel | None) -> str | None:
    return None if record is None else record.model_dump_json()


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


async def page(db: Database, tenant_id: str, flt: ChangelogFilter) -> Page[Change]:
    """Rows newest first, filtered by user, request and time; the cursor is the last row's id."""
    where, params = ["tenant_id = ?"], [tenant_id]
    for column, value in (("user_id", flt.user_id), ("request_id", flt.request_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if flt.since is not None:
        where.append("created_at >= ?")
        params.append(timeutil.to_db(flt.since))
    if flt.cursor is not None:
        where.append("id < ?")
        params.append(int(flt.cursor))
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM changelog WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, flt.limit + 1),
    )
    more = len(rows) > flt.limit
    rows = rows[: flt.limit]
    return Page[Change](items=[to_change(r) for r in rows], next_cursor=str(rows[-1][0]) if more else None)


async def request_view(db: Database, tenant_id: str, request_id: str) -> RequestChanges:
    """What one request added, updated (before and after) and removed; supersede rows are inside updates."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM changelog WHERE tenant_id = ? AND request_id = ? ORDER BY id", (tenant_id, request_id)
    )
    view = RequestChanges(request_id=request_id)
    for change in map(to_change, rows):
        if change.event == "add" and change.after:
            view.added.append(Fact.model_validate(change.after))
        elif change.event == "update" and change.before and change.after:
            view.updated.append(
                FactUpdate(before=Fact.model_validate(change.before), after=Fact.model_validate(change.after))
            )
        elif change.event in ("delete", "expire") and change.after:
            view.removed.append(Fact.model_validate(change.after))
    return view
