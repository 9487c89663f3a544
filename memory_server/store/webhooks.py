"""SQL for webhooks: the registered URLs, the outbox of events and their deliveries.

- `webhooks`: a tenant's URL, the event types it wants (JSON list), and the secret deliveries are signed with
  (kept readable: the server must sign with it).
- `webhook_events`: one row per event, written in the transaction of the change that caused it; its id is the
  `webhook-id` of every attempt to deliver it; `body` is the exact JSON sent; `user_id` lets a purge reach it.
- `webhook_deliveries`: one row per event and webhook: `pending` (due at `next_attempt_at`; `claimed_at` set
  while an attempt is in flight), `delivered` or `failed`, with its attempts and the last outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memory_server import timeutil
from memory_server.models import Webhook, WebhookDelivery
from memory_server.store.db import Connection, Database, Row, is_postgres, page_of

_HOOK_COLUMNS = "id, url, events, enabled, created_by, created_at"
_DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event_id, e.type, e.body, d.status, d.attempts, d.next_attempt_at, d.last_status_code, "
    "d.last_error, d.created_at, d.updated_at, d.delivered_at"
)


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        events=json.loads(row["events"]),
        enabled=bool(row["enabled"]),
        created_by=row["created_by"],
        created_at=timeutil.from_db(row["created_at"]),
    )


def _delivery(row: Row) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        event_type=row["type"],
        payload=json.loads(row["body"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=timeutil.from_db(row["next_attempt_at"]),
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=timeutil.from_db(row["created_at"]),
        updated_at=timeutil.from_db(row["updated_at"]),
        delivered_at=timeutil.from_db(row["delivered_at"]),
    )


# ---- webhooks ---------------------------------------------------------------------------------------------


async def insert(conn: Connection, tenant_id: str, hook: Webhook, secret: str) -> None:
    await conn.execute(
        "INSERT INTO webhooks (id, tenant_id, url, events, secret, enabled, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hook.id,
            tenant_id,
            hook.url,
            json.dumps(hook.events),
            secret,
            int(hook.enabled),
            hook.created_by,
            timeutil.to_db(hook.created_at),
        ),
    )


async def count(conn: Connection, tenant_id: str) -> int:
    rows = await conn.execute_fetchall("SELECT count(*) FROM webhooks WHERE tenant_id = ?", (tenant_id,))
    return int(rows[0][0])


async def listed(db: Database, tenant_id: str) -> list[Webhook]:
    rows = await db.fetchall(
        f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE tenant_id = ? ORDER BY created_at, id", (tenant_id,)
    )
    return [_webhook(r) for r in rows]


async def get(db: Database, tenant_id: str, webhook_id: str) -> Webhook | None:
    row = await db.fetchone(
        f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE tenant_id = ? AND id = ?", (tenant_id, webhook_id)
    )
    return None if row is None else _webhook(row)


async def delete(conn: Connection, tenant_id: str, webhook_id: str) -> Webhook | None:
    """Delete a webhook with its deliveries, and the events no other webhook still has to deliver."""
    rows = await conn.execute_fetchall(
        f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE tenant_id = ? AND id = ?", (tenant_id, webhook_id)
    )
    if not rows:
        return None
    events = await conn.execute_fetchall("SELECT event_id FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
    await conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
    await _drop_orphans(conn, [r[0] for r in events])
    return _webhook(rows[0])


async def set_enabled(conn: Connection, tenant_id: str, webhook_id: str, enabled: bool) -> Webhook | None:
    """Pause (`enabled` false) or resume a webhook; the webhook as it was, None when the tenant has no such one."""
    rows = await conn.execute_fetchall(
        f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE tenant_id = ? AND id = ?", (tenant_id, webhook_id)
    )
    if not rows:
        return None
    await conn.execute("UPDATE webhooks SET enabled = ? WHERE id = ?", (int(enabled), webhook_id))
    return _webhook(rows[0])


async def subscribers(conn: Connection, tenant_id: str, event_type: str) -> list[str]:
    """Ids of the tenant's enabled webhooks that want `event_type`."""
    events = "json_array_elements_text(events::json) AS e (value)" if is_postgres(conn) else "json_each(events)"
    rows = await conn.execute_fetchall(
        "SELECT id FROM webhooks WHERE tenant_id = ? AND enabled = 1 "
        f"AND EXISTS (SELECT 1 FROM {events} WHERE value = ?) ORDER BY created_at, id",
        (tenant_id, event_type),
    )
    return [r[0] for r in rows]


# ---- events and deliveries --------------------------------------------------------------------------------


async def add_event(
    conn: Connection,
    *,
    event_id: str,
    tenant_id: str,
    user_id: str | None,
    event_type: str,
    body: str,
    at: datetime,
    webhook_ids: Sequence[str],
) -> None:
    """Store an event and a pending delivery of it, due now, to each webhook."""
    stamp = timeutil.to_db(at)
    await conn.execute(
        "INSERT INTO webhook_events (id, tenant_id, user_id, type, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (event_id, tenant_id, user_id, event_type, body, stamp),
    )
    await conn.executemany(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, status, attempts, next_attempt_at, "
        "created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)",
        [(tenant_id, hook, event_id, stamp, stamp, stamp) for hook in webhook_ids],
    )


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt: what to send where, and the claim that must still hold to record it."""

    id: int
    event_id: str
    url: str
    secret: str
    body: str
    attempts: int
    claimed_at: str


_CLAIMABLE = """
SELECT d.id, d.event_id, w.url, w.secret, e.body, d.attempts FROM (
    SELECT d.*, row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS k
    FROM webhook_deliveries d
    WHERE d.status = 'pending' AND (d.next_attempt_at <= ? OR d.next_attempt_at > ?)
      AND (d.claimed_at IS NULL OR d.claimed_at < ?)
) d JOIN webhooks w ON w.id = d.webhook_id JOIN webhook_events e ON e.id = d.event_id
WHERE w.enabled = 1 AND d.k + (SELECT count(*) FROM webhook_deliveries f
             WHERE f.webhook_id = d.webhook_id AND f.status = 'pending' AND f.claimed_at >= ?) <= ?
ORDER BY d.next_attempt_at, d.id LIMIT ?
"""


async def claim(
    db: Database, now: datetime, stale_before: datetime, limit: int, per_webhook: int, longest_delay: float
) -> list[Claimed]:
    """Take up to `limit` due deliveries for an attempt each (counted now), at most `per_webhook` in flight to one
    webhook (counting those in flight already, in any process), each webhook's oldest first: a receiver that
    hangs holds only its own. A claim older than `stale_before` belongs to an attempt that never finished
    (another process died) and may be taken again. A delivery due more than `longest_delay` seconds from now (the
    longest retry backoff) was stamped by a clock that has since stepped back: it is due now."""
    stamp, stale = timeutil.to_db(now), timeutil.to_db(stale_before)
    params = (stamp, timeutil.to_db(timeutil.later(now, longest_delay)), stale, stale, per_webhook, limit)
    if not await db.fetchall(_CLAIMABLE, params):
        return []  # the common case (nothing due, or only for receivers still busy), read without the writer
    async with db.transaction() as conn:
        rows = await conn.execute_fetchall(_CLAIMABLE, params)
        await conn.executemany(
            "UPDATE webhook_deliveries SET claimed_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
            [(stamp, stamp, r["id"]) for r in rows],
        )
    return [Claimed(r["id"], r["event_id"], r["url"], r["secret"], r["body"], r["attempts"] + 1, stamp) for r in rows]


async def recover(db: Database) -> int:
    """Make the attempts a crash interrupted due again now (at start-up, when no attempt can be in flight)."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET claimed_at = NULL, next_attempt_at = ? "
            "WHERE status = 'pending' AND claimed_at IS NOT NULL",
            (timeutil.to_db(timeutil.now()),),
        )
        return cur.rowcount


async def finish(
    db: Database,
    item: Claimed,
    *,
    status: str,
    next_attempt_at: datetime | None,
    status_code: int | None,
    error: str | None,
    at: datetime,
) -> bool:
    """Record an attempt's outcome, unless the claim was lost meanwhile (redelivered, deleted); True if recorded."""
    stamp = timeutil.to_db(at)
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, claimed_at = NULL, last_status_code = ?, "
            "last_error = ?, updated_at = ?, delivered_at = ? WHERE id = ? AND claimed_at = ?",
            (
                status,
                None if next_attempt_at is None else timeutil.to_db(next_attempt_at),
                status_code,
                None if error is None else error[:2000],
                stamp,
                stamp if status == "delivered" else None,
                item.id,
                item.claimed_at,
            ),
        )
        return cur.rowcount > 0


async def deliveries(
    db: Database, tenant_id: str, webhook_id: str, *, status: str | None, cursor: int | None, limit: int
) -> tuple[list[WebhookDelivery], int | None]:
    """A webhook's deliveries, newest first, and the cursor of the next page."""
    where, params = ["d.tenant_id = ?", "d.webhook_id = ?"], [tenant_id, webhook_id]
    if status is not None:
        where.append("d.status = ?")
        params.append(status)
    if cursor is not None:
        where.append("d.id < ?")
        params.append(cursor)
    rows = await db.fetchall(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
        f"WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?",
        (*params, limit + 1),
    )
    rows, next_cursor = page_of(rows, limit, "id")
    return [_delivery(r) for r in rows], next_cursor


async def delivery(db: Database, tenant_id: str, webhook_id: str, delivery_id: int) -> WebhookDelivery | None:
    row = await db.fetchone(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
        "WHERE d.tenant_id = ? AND d.webhook_id = ? AND d.id = ?",
        (tenant_id, webhook_id, delivery_id),
    )
    return None if row is None else _delivery(row)


async def requeue(db: Database, tenant_id: str, webhook_id: str, delivery_id: int) -> bool:
    """Make a delivered or failed delivery pending again, due now, with its attempts reset; True if it was."""
    stamp = timeutil.to_db(timeutil.now())
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, claimed_at = NULL, "
            "updated_at = ?, delivered_at = NULL WHERE tenant_id = ? AND webhook_id = ? AND id = ? "
            "AND status != 'pending'",
            (stamp, stamp, tenant_id, webhook_id, delivery_id),
        )
        return cur.rowcount > 0


async def sweep(db: Database, before: datetime, limit: int = 500) -> int:
    """Delete up to `limit` deliveries finished (delivered or failed) before `before`, and events left with none."""
    rows = await db.fetchall(
        "SELECT id, event_id FROM webhook_deliveries WHERE status != 'pending' AND updated_at < ? LIMIT ?",
        (timeutil.to_db(before), limit),
    )
    if not rows:
        return 0
    async with db.transaction() as conn:
        await conn.executemany(
            "DELETE FROM webhook_deliveries WHERE id = ? AND status != 'pending'", [(r["id"],) for r in rows]
        )
        await _drop_orphans(conn, [r["event_id"] for r in rows])
    return len(rows)


async def _drop_orphans(conn: Connection, event_ids: Sequence[str]) -> None:
    """Delete those of these events that no delivery refers to any more."""
    await conn.executemany(
        "DELETE FROM webhook_events WHERE id = ? "
        "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        [(e,) for e in set(event_ids)],
    )


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    """Delete the events about a user, with their deliveries (sent or not)."""
    cur = await conn.execute("DELETE FROM webhook_events WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return cur.rowcount
