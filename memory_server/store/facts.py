"""SQL for facts (and their vectors, through `store.vectors`).

A fact row is the truth; `fact_vectors` keeps its embedding beside it (so the vector index can be rebuilt
without re-embedding, and a user's own facts can be scored exactly), and `vector_ops` lists fact ids
whose vector-index entry must be brought in line with SQLite after the transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from memory_server import timeutil
from memory_server.models import Fact, FactKind, FactStatus, IdentityRecord, ProfileFact
from memory_server.store import vectors
from memory_server.store.db import Connection, Database, Row, in_chunks, marks, page_of, read

COLUMNS = (
    "id, user_id, kind, content, topic, source, attributes, confidence, status, superseded_by, "
    "request_id, message_ids, config_version, created_at, updated_at, expires_at"
)
_F_COLUMNS = ", ".join(f"f.{c.strip()}" for c in COLUMNS.split(","))
_LIVE = "f.status = 'active' AND (f.expires_at IS NULL OR f.expires_at > ?)"

_SPACE = re.compile(r"\s+")


def content_hash(content: str) -> str:
    """Hash of the normalised content: case, spacing and closing punctuation do not make a new fact."""
    norm = _SPACE.sub(" ", content.casefold()).strip().rstrip(".!?;:, ")
    return hashlib.sha256(norm.encode()).hexdigest()


def _json(text: str) -> Any:
    """Most facts carry no attributes and no message ids: skip the parser for those."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def to_fact(row: Row) -> Fact:
    """A row read with COLUMNS first, read by position: by name took most of the time of reading a user's facts
    (the profile's hot path)."""
    return Fact(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        content=row[3],
        topic=row[4],
        source=row[5],
        attributes=_json(row[6]),
        confidence=row[7],
        status=row[8],
        superseded_by=row[9],
        request_id=row[10],
        message_ids=_json(row[11]),
        config_version=row[12],
        created_at=timeutil.from_db(row[13]),
        updated_at=timeutil.from_db(row[14]),
        expires_at=timeutil.from_db(row[15]),
    )


async def insert(conn: Connection, tenant_id: str, fact: Fact, vector: np.ndarray, model_id: str) -> None:
    await conn.execute(
        "INSERT INTO facts (id, tenant_id, user_id, kind, content, content_hash, topic, source, attributes, "
        "confidence, status, superseded_by, request_id, message_ids, config_version, created_at, updated_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            fact.id,
            tenant_id,
            fact.user_id,
            fact.kind,
            fact.content,
            content_hash(fact.content),
            fact.topic,
            fact.source,
            json.dumps(fact.attributes, ensure_ascii=False),
            fact.confidence,
            fact.status,
            fact.superseded_by,
            fact.request_id,
            json.dumps(fact.message_ids),
            fact.config_version,
            timeutil.to_db(fact.created_at),
            timeutil.to_db(fact.updated_at),
            timeutil.to_db(fact.expires_at) if fact.expires_at else None,
        ),
    )
    await vectors.put(conn, [(fact.id, model_id, vector)])
    await vectors.mark_dirty(conn, [fact.id])


async def set_status(
    conn: Connection, fact: Fact, status: str, at: datetime, superseded_by: str | None = None
) -> Fact | None:
    """Retire a fact (superseded, expired, deleted); return it as it now stands.

    Applies only if the row still has the status it was read with; None means someone changed it first.
    """
    cur = await conn.execute(
        "UPDATE facts SET status = ?, superseded_by = ?, updated_at = ? WHERE id = ? AND status = ?",
        (status, superseded_by, timeutil.to_db(at), fact.id, fact.status),
    )
    if cur.rowcount == 0:
        return None
    await vectors.mark_dirty(conn, [fact.id])
    return fact.model_copy(update={"status": status, "superseded_by": superseded_by, "updated_at": at})


def _filters(
    kind: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, list[Any]]:
    """Extra WHERE terms (on alias f) for the optional filters that every read shares."""
    terms, params = [], []
    if kind:
        terms.append("f.kind = ?")
        params.append(kind)
    if source:
        terms.append("f.source = ?")
        params.append(source)
    if since:
        terms.append("f.created_at >= ?")
        params.append(timeutil.to_db(since))
    if until:
        terms.append("f.created_at <= ?")
        params.append(timeutil.to_db(until))
    return "".join(f" AND {t}" for t in terms), params


async def live_rows(
    db: Database,
    tenant_id: str,
    user_id: str,
    *,
    with_vectors: bool,
    kind: FactKind | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Row]:
    """The user's active, unexpired facts, newest first; with a `vector` column when asked (read them with
    `to_fact` and `vectors.matrix`, off the loop for a big user)."""
    extra, params = _filters(kind, source, since, until)
    vector_col = ", v.vector" if with_vectors else ""
    join = " JOIN fact_vectors v ON v.fact_id = f.id" if with_vectors else ""
    return await db.fetchall(
        f"SELECT {_F_COLUMNS}{vector_col} FROM facts f{join} "
        f"WHERE f.tenant_id = ? AND f.user_id = ? AND {_LIVE}{extra} ORDER BY f.updated_at DESC",
        (tenant_id, user_id, timeutil.to_db(timeutil.now()), *params),
    )


async def live_ids(db: Database, tenant_id: str, user_id: str) -> frozenset[str]:
    """The ids of the user's active, unexpired facts: a stored fact changes only by leaving them, so two equal
    sets are the same live facts (a plan made against one still holds)."""
    rows = await db.fetchall(
        f"SELECT f.id FROM facts f WHERE f.tenant_id = ? AND f.user_id = ? AND {_LIVE}",
        (tenant_id, user_id, timeutil.to_db(timeutil.now())),
    )
    return frozenset(r["id"] for r in rows)


#: What a profile shows of a fact, read by position (`to_profile_fact`).
_PROFILE_COLUMNS = "f.id, f.content, f.kind, f.confidence, f.updated_at, f.expires_at"


async def live_profile_rows(db: Database, tenant_id: str, user_id: str) -> list[Row]:
    """The user's active, unexpired facts as a profile shows them, newest first: six of the sixteen columns of
    `live_rows`, and no attributes or message ids to parse (read them with `to_profile_fact`)."""
    return await db.fetchall(
        f"SELECT {_PROFILE_COLUMNS} FROM facts f WHERE f.tenant_id = ? AND f.user_id = ? AND {_LIVE} "
        "ORDER BY f.updated_at DESC",
        (tenant_id, user_id, timeutil.to_db(timeutil.now())),
    )


def to_profile_fact(row: Row) -> ProfileFact:
    return ProfileFact(
        id=row[0],
        content=row[1],
        kind=row[2],
        confidence=row[3],
        updated_at=timeutil.from_db(row[4]),
        expires_at=timeutil.from_db(row[5]),
    )


async def live_identities(db: Database, tenant_id: str, user_id: str) -> list[IdentityRecord]:
    """The identifiers the user's live facts state (`attributes.identity`), newest first."""
    rows = await db.fetchall(
        "SELECT f.id, json_extract(f.attributes, '$.identity.type') AS type, "
        "json_extract(f.attributes, '$.identity.value') AS value, f.confidence, f.updated_at FROM facts f "
        f"WHERE f.tenant_id = ? AND f.user_id = ? AND {_LIVE} "
        "AND json_extract(f.attributes, '$.identity.value') IS NOT NULL ORDER BY f.updated_at DESC",
        (tenant_id, user_id, timeutil.to_db(timeutil.now())),
    )
    return [
        IdentityRecord(
            type=r["type"],
            value=r["value"],
            confidence=r["confidence"],
            fact_id=r["id"],
            updated_at=timeutil.from_db(r["updated_at"]),
        )
        for r in rows
    ]


async def get(db: Database, tenant_id: str, fact_id: str) -> Fact | None:
    row = await db.fetchone(f"SELECT {COLUMNS} FROM facts WHERE tenant_id = ? AND id = ?", (tenant_id, fact_id))
    return None if row is None else to_fact(row)


async def live_by_content(db: Database, tenant_id: str, user_id: str, content: str) -> Fact | None:
    """The user's live fact that says `content` (compared as `content_hash` normalises it), through the index that
    keeps one active fact per text."""
    row = await db.fetchone(
        f"SELECT {_F_COLUMNS} FROM facts f WHERE f.tenant_id = ? AND f.user_id = ? AND f.content_hash = ? AND {_LIVE}",
        (tenant_id, user_id, content_hash(content), timeutil.to_db(timeutil.now())),
    )
    return None if row is None else to_fact(row)


async def page(
    db: Database,
    tenant_id: str,
    user_id: str,
    *,
    status: FactStatus | str,
    kind: FactKind | None,
    source: str | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[Fact], int | None]:
    """One user's facts, newest first, and the cursor of the next page. Status 'active' means live (not yet
    expired), 'expired' includes active facts past their expiry, 'all' lists every status."""
    where, params = ["f.tenant_id = ?", "f.user_id = ?"], [tenant_id, user_id]
    now = timeutil.to_db(timeutil.now())
    if status == "active":
        where.append(_LIVE)
        params.append(now)
    elif status == "expired":
        where.append("(f.status = 'expired' OR (f.status = 'active' AND f.expires_at <= ?))")
        params.append(now)
    elif status != "all":
        where.append("f.status = ?")
        params.append(status)
    extra, extra_params = _filters(kind, source)
    if cursor is not None:
        where.append("f.rowid < ?")
        params.append(cursor)
    rows = await db.fetchall(
        f"SELECT {_F_COLUMNS}, f.rowid AS cursor FROM facts f WHERE {' AND '.join(where)}{extra} "
        "ORDER BY f.rowid DESC LIMIT ?",
        (*params, *extra_params, limit + 1),
    )
    rows, cursor = page_of(rows, limit, "cursor")
    return [to_fact(r) for r in rows], cursor


async def of_user(db: Database, tenant_id: str, user_id: str) -> list[Fact]:
    """Every fact of the user, every status, oldest first (for an export)."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM facts WHERE tenant_id = ? AND user_id = ? ORDER BY rowid", (tenant_id, user_id)
    )
    return [to_fact(r) for r in rows]


async def of_requests(source: Database | Connection, tenant_id: str, request_ids: Sequence[str]) -> list[Fact]:
    """Every fact these requests produced, every status, oldest first (looked up by request, not by user)."""
    if not request_ids:
        return []
    rows = await read(
        source,
        f"SELECT {COLUMNS} FROM facts WHERE request_id IN ({marks(request_ids)}) AND tenant_id = ? ORDER BY rowid",
        (*request_ids, tenant_id),
    )
    return [to_fact(r) for r in rows]


async def due_to_expire(db: Database, limit: int) -> list[tuple[str, Fact]]:
    """(tenant, fact) of active facts past their expiry."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS}, tenant_id FROM facts WHERE status = 'active' AND expires_at <= ? LIMIT ?",
        (timeutil.to_db(timeutil.now()), limit),
    )
    return [(r["tenant_id"], to_fact(r)) for r in rows]


@dataclass(frozen=True)
class Retirement:
    """A fact deleted or replaced by a person or by a later statement (not by the system's expiry)."""

    content_hash: str
    recorded_at: datetime
    actor: str
    request_id: str | None
    successor: str | None


async def retirements(db: Database, tenant_id: str, user_id: str, hashes: Sequence[str]) -> list[Retirement]:
    """How the user's facts with these content hashes were retired, one row per change-log entry."""
    if not hashes:
        return []
    rows = await db.fetchall(
        "SELECT f.content_hash, c.created_at, c.actor, c.request_id, f.superseded_by FROM facts f "
        "JOIN changelog c ON c.tenant_id = f.tenant_id AND c.user_id = f.user_id AND c.fact_id = f.id "
        f"WHERE f.tenant_id = ? AND f.user_id = ? AND f.content_hash IN ({marks(hashes)}) "
        "AND f.status IN ('deleted', 'superseded') AND c.event IN ('delete', 'supersede') "
        "AND c.actor NOT LIKE 'system:%'",
        (tenant_id, user_id, *hashes),
    )
    return [Retirement(r[0], timeutil.from_db(r[1]), r[2], r[3], r[4]) for r in rows]


async def of_ids(db: Database, tenant_id: str, fact_ids: Sequence[str]) -> list[Fact]:
    found: list[Fact] = []
    for chunk in in_chunks(fact_ids):
        rows = await db.fetchall(
            f"SELECT {COLUMNS} FROM facts WHERE tenant_id = ? AND id IN ({marks(chunk)})", (tenant_id, *chunk)
        )
        found.extend(map(to_fact, rows))
    return found


async def other_owners(conn: Connection, tenant_id: str, user_id: str, fact_ids: Sequence[str]) -> set[str]:
    """The other users of this tenant that hold any of `fact_ids`."""
    found: set[str] = set()
    for chunk in in_chunks(fact_ids):
        rows = await conn.execute_fetchall(
            f"SELECT DISTINCT user_id FROM facts WHERE id IN ({marks(chunk)}) AND tenant_id = ? AND user_id != ?",
            (*chunk, tenant_id, user_id),
        )
        found.update(r[0] for r in rows)
    return found


async def owned_elsewhere(conn: Connection, tenant_id: str, fact_ids: Sequence[str]) -> set[str]:
    """Those of `fact_ids` that name facts of another tenant or project (ids are unique across them)."""
    found: set[str] = set()
    for chunk in in_chunks(fact_ids):
        rows = await conn.execute_fetchall(
            f"SELECT id FROM facts WHERE id IN ({marks(chunk)}) AND tenant_id != ?", (*chunk, tenant_id)
        )
        found.update(r[0] for r in rows)
    return found


async def importable(conn: Connection, tenant_id: str, fact: Fact) -> bool:
    """Whether an imported fact is new here: its id unknown, and (when active) its content not live already."""
    clash = await conn.execute_fetchall(
        "SELECT 1 FROM facts WHERE id = ? OR (tenant_id = ? AND user_id = ? AND content_hash = ? "
        "AND status = 'active' AND ? = 'active')",
        (fact.id, tenant_id, fact.user_id, content_hash(fact.content), fact.status),
    )
    return not clash


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    """Remove the user's facts (their vectors go with them) and queue their index entries for removal."""
    ids = [
        r["id"]
        for r in await conn.execute_fetchall(
            "SELECT id FROM facts WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
        )
    ]
    await vectors.mark_dirty(conn, ids)
    await conn.execute("DELETE FROM facts WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return len(ids)


async def all_ids(db: Database) -> list[str]:
    return [r["id"] for r in await db.fetchall("SELECT id FROM facts ORDER BY rowid")]


async def count_live(db: Database) -> int:
    row = await db.fetchone(f"SELECT count(*) AS n FROM facts f WHERE {_LIVE}", (timeutil.to_db(timeutil.now()),))
    return int(row["n"]) if row else 0
