"""SQL for user records: attributes, source, when the user was seen, counts, and their aggregates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from memory_server import timeutil
from memory_server.aggregates import Aggregates
from memory_server.models import UserRecord
from memory_server.store.db import Connection, Database, Row, is_postgres


def _record(row: Row) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        source_label=row["source"],
        attributes=json.loads(row["attributes"]),
        aggregates=None if row["aggregates"] is None else Aggregates.model_validate_json(row["aggregates"]),
        first_seen=timeutil.from_db(row["first_seen"]),
        last_seen=timeutil.from_db(row["last_seen"]),
        message_count=row["message_count"],
        analysed_count=row["analysed_count"],
        created_at=timeutil.from_db(row["created_at"]),
        updated_at=timeutil.from_db(row["updated_at"]),
    )


async def seen(
    conn: Connection,
    tenant_id: str,
    user_id: str,
    *,
    source: str | None,
    attributes: dict[str, Any],
    times: Sequence[datetime],
    now: datetime,
) -> None:
    """Count a published request's messages; `attributes` are merged in (RFC 7396: a null removes a key) and its
    source taken, unless the user was seen later than its messages: older news (a backfill of old conversations)
    does not overwrite the current plan."""
    first, last = timeutil.to_db(min(times)), timeutil.to_db(max(times))
    stamp = timeutil.to_db(now)
    news = "(users.last_seen IS NULL OR excluded.last_seen >= users.last_seen)"
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, source, attributes, first_seen, last_seen, message_count, "
        "created_at, updated_at) VALUES (?, ?, ?, json_patch('{}', ?), ?, ?, ?, ?, ?) "
        f"ON CONFLICT (tenant_id, user_id) DO UPDATE SET source = CASE WHEN {news} "
        "THEN coalesce(excluded.source, users.source) ELSE users.source END, "
        f"attributes = CASE WHEN {news} THEN json_patch(users.attributes, ?) ELSE users.attributes END, "
        "first_seen = CASE WHEN users.first_seen < excluded.first_seen THEN users.first_seen "
        "ELSE excluded.first_seen END, "
        "last_seen = CASE WHEN users.last_seen > excluded.last_seen THEN users.last_seen ELSE excluded.last_seen END, "
        "message_count = users.message_count + excluded.message_count, updated_at = excluded.updated_at",
        (
            tenant_id,
            user_id,
            source,
            json.dumps(attributes),
            first,
            last,
            len(times),
            stamp,
            stamp,
            json.dumps(attributes),
        ),
    )


async def known(conn: Connection, tenant_id: str, user_id: str, now: datetime) -> None:
    """Create the record of a user who has facts but was never seen publishing (facts stated directly)."""
    stamp = timeutil.to_db(now)
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, attributes, created_at, updated_at) VALUES (?, ?, '{}', ?, ?) "
        "ON CONFLICT (tenant_id, user_id) DO NOTHING",
        (tenant_id, user_id, stamp, stamp),
    )


async def merge_attributes(
    conn: Connection, tenant_id: str, user_id: str, patch: dict[str, Any], now: datetime
) -> None:
    """Merge `patch` into the user's attributes (RFC 7396), creating the record of a user not seen yet."""
    stamp = timeutil.to_db(now)
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, attributes, created_at, updated_at) "
        "VALUES (?, ?, json_patch('{}', ?), ?, ?) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
        "attributes = json_patch(users.attributes, ?), updated_at = excluded.updated_at",
        (tenant_id, user_id, json.dumps(patch), stamp, stamp, json.dumps(patch)),
    )


async def set_attributes(
    conn: Connection, tenant_id: str, user_id: str, attributes: dict[str, Any], now: datetime
) -> None:
    """Replace the user's attributes (creating the record of a user not seen yet)."""
    stamp = timeutil.to_db(now)
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant_id, user_id) DO UPDATE SET attributes = excluded.attributes, "
        "updated_at = excluded.updated_at",
        (tenant_id, user_id, json.dumps(attributes), stamp, stamp),
    )


async def reseen(conn: Connection, tenant_id: str, user_id: str) -> None:
    """First and last seen from the user's messages left, after some were deleted (the counts come with signals)."""
    await conn.execute(
        "UPDATE users SET first_seen = (SELECT min(created_at) FROM messages WHERE tenant_id = :t AND user_id = :u), "
        "last_seen = (SELECT max(created_at) FROM messages WHERE tenant_id = :t AND user_id = :u) "
        "WHERE tenant_id = :t AND user_id = :u",
        {"t": tenant_id, "u": user_id},
    )


async def save_aggregates(
    conn: Connection, tenant_id: str, user_id: str, aggregates: Aggregates, analysed: int, now: datetime
) -> None:
    """Store freshly computed aggregates, their filterable columns and the counts they came from."""
    stamp = timeutil.to_db(now)
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant_id, user_id) DO NOTHING",
        (tenant_id, user_id, stamp, stamp),
    )
    await conn.execute(
        "UPDATE users SET aggregates = :aggregates, churn_risk_score = :churn, sentiment_trend = :trend, "
        "analysed_count = :analysed, updated_at = :now, message_count = "
        "(SELECT count(*) FROM messages m WHERE m.tenant_id = :tenant AND m.user_id = :user) "
        "WHERE tenant_id = :tenant AND user_id = :user",
        {
            "aggregates": aggregates.model_dump_json(),
            "churn": aggregates.churn_risk_score,
            "trend": aggregates.sentiment_trend,
            "analysed": analysed,
            "now": stamp,
            "tenant": tenant_id,
            "user": user_id,
        },
    )


async def get(db: Database, tenant_id: str, user_id: str) -> UserRecord | None:
    row = await db.fetchone("SELECT * FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return None if row is None else _record(row)


#: A filtered list with at most this many matches sorts them; a longer one walks users_by_seen in order instead,
#: testing each user against segment and attribute filters one by one up to this deep, with their lists beyond.
SORT_AT_MOST = 1_000
_LAST_CHARACTER = "\U0010ffff"


async def page(
    db: Database,
    tenant_id: str,
    *,
    churn_risk_gte: float | None,
    churn_risk_lte: float | None,
    sentiment_trend: str | None,
    min_messages: int | None,
    segment: str | None,
    attributes: dict[str, Any],
    limit: int,
    id_prefix: str | None = None,
    offset: int,
) -> tuple[list[UserRecord], int]:
    """Users matching every filter, most recently seen first, and how many match in all.

    A user's attribute `name` matches `value` when `json_extract(attributes, '$."name"') IS value` would: the
    filters read user_attributes, which the triggers of m008 keep in step with `attributes`. Only the page's rows
    are read whole (they are wide); the rest runs on indexes. Unfiltered, the count is the one user_counts keeps;
    otherwise it starts from the filtered columns' index
    or, without one, from the rows of a segment or an attribute value (each has its user: purging a user removes
    their memberships, the triggers their attributes). The page sorts the matches when there are few, else walks
    users_by_seen, newest first, until it is full."""
    columns = [
        (sql, value)
        for sql, value in (
            ("churn_risk_score >= ?", churn_risk_gte),
            ("churn_risk_score <= ?", churn_risk_lte),
            ("sentiment_trend = ?", sentiment_trend),
            ("analysed_count >= ?", min_messages),
            ("user_id >= ?", id_prefix),  # a prefix as a range over the primary key
            ("user_id < ?", None if id_prefix is None else id_prefix + _LAST_CHARACTER),
        )
        if value is not None
    ]
    # Filters keeping a set of users: (table, its condition selecting them, parameters).
    sets: list[tuple[str, str, list[Any]]] = []
    nulls: list[str] = []  # attributes that must be absent or null
    if segment is not None:  # +tenant_id: by the segment's key, not every membership of the tenant
        sets.append(("segment_members", "segment_id = ? AND +tenant_id = ?", [segment, tenant_id]))
    for name, value in attributes.items():
        if value is None:
            nulls.append(name)
        else:
            if is_postgres(db):  # a jsonb column there, compared as JSON
                sets.append(
                    (
                        "user_attributes",
                        "tenant_id = ? AND name = ? AND value = CAST(? AS jsonb)",
                        [tenant_id, name, json.dumps(value)],
                    )
                )
            else:
                sets.append(("user_attributes", "tenant_id = ? AND name = ? AND value = ?", [tenant_id, name, value]))

    def where(mode: str, skip: int = -1) -> tuple[str, list[Any]]:
        """The filters on users (but set number `skip`). `count`: sets as lists, never looked up user by user in
        the wide table; `sort`: the sets' intersection first; `walk`: no column index (+) and, for a shallow
        page, each set tested user by user."""
        sql, params = ["tenant_id = ?"], [tenant_id]
        for condition, value in columns:
            sql.append(f"+{condition}" if mode == "walk" else condition)
            params.append(value)
        if mode == "sort" and sets:  # the users in every set, found on their narrow rows: only those are read
            (table, test, values), *others = sets
            inner = [f"SELECT user_id FROM {table} WHERE {test}"]
            params.extend(values)
            for table, test, values in others:
                inner.append(f"+user_id IN (SELECT user_id FROM {table} WHERE {test})")
                params.extend(values)
            sql.append(f"user_id IN ({' AND '.join(inner)})")
        for i, (table, test, values) in enumerate(sets if mode != "sort" else []):
            if i == skip:
                continue
            if mode == "walk" and offset + limit <= SORT_AT_MOST:
                sql.append(f"EXISTS (SELECT 1 FROM {table} x WHERE x.user_id = users.user_id AND {test})")
            else:
                sql.append(f"+user_id IN (SELECT user_id FROM {table} WHERE {test})")
            params.extend(values)
        for name in nulls:
            sql.append(
                "user_id NOT IN (SELECT user_id FROM user_attributes WHERE tenant_id = ? AND name = ? "
                "AND value IS NOT NULL)"
            )
            params.extend((tenant_id, name))
        return " AND ".join(sql), params

    if not sets and not columns and not nulls:
        total = await db.fetchone("SELECT users AS n FROM user_counts WHERE tenant_id = ?", (tenant_id,))
    elif sets and not columns and not nulls:  # from the first set's rows, the others as lists
        table, test, values = sets[0]
        rest, params = where("count", skip=0)
        rest = rest.removeprefix("tenant_id = ?").removeprefix(" AND ")
        total = await db.fetchone(
            f"SELECT count(*) AS n FROM {table} WHERE {test}{' AND ' if rest else ''}{rest}",
            [*values, *params[1:]],
        )
    else:
        condition, params = where("count")
        total = await db.fetchone(f"SELECT count(*) AS n FROM users WHERE {condition}", params)
    count = int(total["n"]) if total else 0
    walk = count > SORT_AT_MOST
    condition, params = where("walk" if walk else "sort")
    # users_by_seen is in this order (users never seen last, as SQLite sorts NULLs when descending and PostgreSQL
    # must be told); `+last_seen`: sorting a few matches must not walk it for their sake.
    seen = "last_seen DESC NULLS LAST" if is_postgres(db) else "last_seen DESC"
    order = f"{seen}, user_id" if walk else f"+{seen}, user_id"
    rows = await db.fetchall(
        f"SELECT u.* FROM (SELECT user_id FROM users WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?) p "
        f"JOIN users u ON u.tenant_id = ? AND u.user_id = p.user_id ORDER BY u.{seen}, u.user_id",
        (*params, limit, offset, tenant_id),
    )
    return [_record(r) for r in rows], count


async def delete(conn: Connection, tenant_id: str, user_id: str) -> bool:
    """Delete the user's record; whether there was one."""
    cur = await conn.execute("DELETE FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return cur.rowcount > 0


async def row_of(conn: Connection, tenant_id: str, user_id: str) -> Row | None:
    """The user's row, read inside a transaction (segment conditions are evaluated on it)."""
    rows = await conn.execute_fetchall("SELECT * FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return next(iter(rows), None)


async def batch_after(db: Database, tenant_id: str, after: str | None, limit: int) -> list[Row]:
    """The tenant's user rows by user id, from after `after`."""
    return await db.fetchall(
        "SELECT * FROM users WHERE tenant_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
        (tenant_id, after or "", limit),
    )
