"""SQL for `changelog`: one typed event per add, update, supersede, expire, delete and purge of a fact, and
per key and access event of a tenant (those have no user).

Events are written with the connection of the transaction that makes the change they describe, so the
log can never disagree with the facts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from memory_server import timeutil
from memory_server.models import Change, ChangeEventName
from memory_server.store.db import Connection, Database, Row, marks, page_of, same


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
    message_id: int | None = None


def _dump(record: BaseModel | None) -> str | None:
    return None if record is None else record.model_dump_json()


async def record(conn: Connection, event: ChangeEvent) -> None:
    await conn.execute(
        "INSERT INTO changelog (tenant_id, user_id, fact_id, message_id, event, before, after, request_id, actor, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.tenant_id,
            event.user_id,
            event.fact_id,
            event.message_id,
            event.name,
            _dump(event.before),
            _dump(event.after),
            event.request_id,
            event.actor,
            timeutil.to_db(event.at),
        ),
    )


_COLUMNS = "id, user_id, fact_id, message_id, event, before, after, request_id, actor, created_at"


def _change(row: Row) -> Change:
    return Change(
        id=row["id"],
        user_id=row["user_id"],
        fact_id=row["fact_id"],
        message_id=row["message_id"],
        event=row["event"],
        before=json.loads(row["before"]) if row["before"] else None,
        after=json.loads(row["after"]) if row["after"] else None,
        request_id=row["request_id"],
        actor=row["actor"],
        created_at=timeutil.from_db(row["created_at"]),
    )


async def page(
    db: Database,
    tenant_id: str,
    *,
    user_id: str | None,
    request_id: str | None,
    since: datetime | None,
    before_id: int | None,
    limit: int,
    hidden: Sequence[str] = (),
) -> tuple[list[Change], int | None]:
    """Rows newest first, filtered by user, request and time, older than row `before_id` when given, without the
    `hidden` events; and the cursor of the next page (the last row's id), like `facts.page`."""
    where, params = ["tenant_id = ?"], [tenant_id]
    if hidden:
        where.append(f"event NOT IN ({','.join('?' * len(hidden))})")
        params.extend(hidden)
    for column, value in (("user_id", user_id), ("request_id", request_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("created_at >= ?")
        params.append(timeutil.to_db(since))
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM changelog WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    )
    rows, cursor = page_of(rows, limit, "id")
    return [_change(r) for r in rows], cursor


async def of_request(db: Database, tenant_id: str, request_id: str) -> list[Change]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM changelog WHERE tenant_id = ? AND request_id = ? ORDER BY id", (tenant_id, request_id)
    )
    return [_change(r) for r in rows]


async def of_facts(db: Database, tenant_id: str, user_id: str, fact_ids: list[str]) -> list[Change]:
    """The rows about some of one user's facts (read through the user's index), oldest first."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM changelog WHERE tenant_id = ? AND user_id = ? AND fact_id IN ({marks(fact_ids)}) "
        "ORDER BY id",
        (tenant_id, user_id, *fact_ids),
    )
    return [_change(r) for r in rows]


async def of_user(db: Database, tenant_id: str, user_id: str) -> list[Change]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM changelog WHERE tenant_id = ? AND user_id = ? ORDER BY id", (tenant_id, user_id)
    )
    return [_change(r) for r in rows]


async def blank_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    """Keep a purged user's rows (what happened, when, by whom) but drop their contents."""
    cur = await conn.execute(
        "UPDATE changelog SET before = NULL, after = NULL WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    )
    return cur.rowcount


async def import_rows(conn: Connection, tenant_id: str, changes: Sequence[Change]) -> int:
    """Add the exported rows this log lacks; return how many. Rows are told apart by event, fact, message and
    time, and several may share all four (two episodes whose ids are unknown here, deleted at once): of each such
    group, as many rows are added as the export holds more than this log."""
    groups: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        key = (change.user_id, change.fact_id, change.message_id, change.event, timeutil.to_db(change.created_at))
        groups.setdefault(key, []).append(change)
    eq = same(conn)
    added = 0
    for key, rows in groups.items():
        [here] = await conn.execute_fetchall(
            f"SELECT count(*) AS n FROM changelog WHERE tenant_id = ? AND user_id = ? AND fact_id {eq} ? "
            f"AND message_id {eq} ? AND event = ? AND created_at = ?",
            (tenant_id, *key),
        )
        for change in rows[here["n"] :]:
            await conn.execute(
                "INSERT INTO changelog (tenant_id, user_id, fact_id, message_id, event, before, after, request_id, "
                "actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant_id,
                    *key[:4],
                    json.dumps(change.before) if change.before is not None else None,
                    json.dumps(change.after) if change.after is not None else None,
                    change.request_id,
                    change.actor,
                    key[4],
                ),
            )
            added += 1
    return added


_LAST_ID = "SELECT MAX(id) AS last FROM changelog"


async def last_id(db: Database) -> int:
    row = await db.fetchone(_LAST_ID)
    return 0 if row is None or row["last"] is None else int(row["last"])


async def purges_after(conn: Connection, after_id: int) -> tuple[dict[tuple[str, str], str], int]:
    """The users purged after change `after_id`, with the time of their last purge (by tenant and user,
    `created_at` as stored), and the change log's last id, to look after next time. Read inside a write
    transaction: ids commit in order (one writer at a time), so none is skipped."""
    [top] = await conn.execute_fetchall(_LAST_ID)
    last = after_id if top["last"] is None else int(top["last"])
    rows = await conn.execute_fetchall(
        "SELECT tenant_id, user_id, created_at FROM changelog WHERE id > ? AND id <= ? AND event = 'purge' ORDER BY id",
        (after_id, last),
    )
    return {(r["tenant_id"], r["user_id"]): r["created_at"] for r in rows}, last
