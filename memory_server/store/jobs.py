"""SQL for `jobs`: the durable queue of requests to extract, with their status, attempts and usage.

A job is claimed by flipping it to `running` in one statement that also keeps each user's jobs in the order
they were accepted (no job of a user runs while an earlier one is pending or running).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from extractors.base import Usage
from memory_server import timeutil
from memory_server.models import Job
from memory_server.store.db import Connection, Database, Row, in_chunks, is_postgres, marks, read

COLUMNS = (
    "request_id, user_id, kind, status, attempts, error, source, session_id, created_at, updated_at, finished_at, "
    "llm_calls, prompt_tokens, completion_tokens, raw_output"
)


def to_job(row: Row) -> Job:
    return Job(
        request_id=row["request_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        status=row["status"],
        attempts=row["attempts"],
        error=row["error"],
        source=row["source"],
        session_id=row["session_id"],
        created_at=timeutil.from_db(row["created_at"]),
        updated_at=timeutil.from_db(row["updated_at"]),
        finished_at=timeutil.from_db(row["finished_at"]),
        usage=Usage(
            llm_calls=row["llm_calls"], prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"]
        ),
        raw_output=row["raw_output"],
    )


@dataclass(frozen=True)
class ClaimedJob:
    tenant_id: str
    request_id: str
    user_id: str
    kind: str
    attempts: int
    source: str | None
    attributes: dict[str, Any]
    actor: str


async def enqueue(
    conn: Connection,
    *,
    request_id: str,
    tenant_id: str,
    user_id: str,
    kind: str,
    actor: str,
    at: datetime,
    source: str | None = None,
    session_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    payload_hash: str | None = None,
    imported: bool = False,
) -> None:
    """A queued job; an `imported` one is done where it was published, so that its messages keep their source and
    attributes (nothing when its id is taken: by an earlier import, or by another tenant's request)."""
    stamp = timeutil.to_db(at)
    await conn.execute(
        "INSERT INTO jobs (request_id, tenant_id, user_id, kind, status, attempts, source, session_id, attributes, "
        "payload_hash, actor, run_after, created_at, updated_at, finished_at) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        + (" ON CONFLICT (request_id) DO NOTHING" if imported else ""),
        (
            request_id,
            tenant_id,
            user_id,
            kind,
            "done" if imported else "queued",
            source,
            session_id,
            json.dumps(attributes or {}, ensure_ascii=False),
            payload_hash,
            actor,
            stamp,
            stamp,
            stamp,
            stamp if imported else None,
        ),
    )


_CLAIMABLE = """
    FROM jobs j
    WHERE j.status = 'queued' AND (j.run_after <= :now OR j.run_after > :latest)
      AND NOT EXISTS (
          SELECT 1 FROM jobs o WHERE o.tenant_id = j.tenant_id AND o.user_id = j.user_id
            AND (o.status = 'running' OR (o.status = 'queued' AND o.rowid < j.rowid)))
"""
_ANY_CLAIMABLE = f"SELECT 1 AS due {_CLAIMABLE} LIMIT 1"
_CLAIM = f"""
UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = :now, error = NULL
WHERE rowid = (SELECT j.rowid {_CLAIMABLE} ORDER BY j.rowid LIMIT 1)
RETURNING tenant_id, request_id, user_id, kind, attempts, source, attributes, actor
"""


def _held(request_id: str) -> str:
    return f"job:{request_id}"


async def claim(db: Database, longest_delay: float) -> ClaimedJob | None:
    """Take the oldest due job whose user has no earlier job pending. A job due more than `longest_delay` seconds
    from now (the longest retry backoff) was stamped by a clock that has since stepped back: it is due now, or it
    would hold its user's later jobs back until the clock caught up. On a shared database the claim is held
    (`Database.hold`) before it commits, so no other process ever sees it running and unheld while this one lives.
    """
    at = timeutil.now()
    now = {"now": timeutil.to_db(at), "latest": timeutil.to_db(timeutil.later(at, longest_delay))}
    if not await db.fetchall(_ANY_CLAIMABLE, now):
        return None  # most looks find nothing (idle polls, workers woken together): no write lock for those
    async with db.transaction() as conn:
        rows = list(await conn.execute_fetchall(_CLAIM, now))
        if rows:
            await db.hold(_held(rows[0]["request_id"]))
    if not rows:
        return None
    row = rows[0]
    return ClaimedJob(
        row["tenant_id"],
        row["request_id"],
        row["user_id"],
        row["kind"],
        row["attempts"],
        row["source"],
        json.loads(row["attributes"]),
        row["actor"],
    )


def still_claimed(db: Database, request_id: str) -> bool:
    """Whether this process still holds its claim of the job: on a shared database, a claim lost with a cut
    connection may have been requeued and claimed by another process meanwhile, which then does the job."""
    return db.holds(_held(request_id))


async def unclaim(db: Database, request_id: str) -> None:
    """Put a job claimed but not begun back in the queue, its attempt not counted (the process is stopping)."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1 WHERE request_id = ? AND status = 'running'",
            (request_id,),
        )
    await release(db, request_id)


async def release(db: Database, request_id: str) -> None:
    """This process is done with the job (finished, failed or rescheduled)."""
    await db.release(_held(request_id))


async def recover(db: Database) -> int:
    """Requeue the jobs a crash left running: on SQLite (one process) every running job; on a shared database those
    whose claim no live process holds (the holder's session lock is gone, so this transaction's try-lock succeeds;
    a claim this process holds fails it too, from another connection). Each process looks every `poll_seconds`:
    while no job runs, the look takes no write lock."""
    if db.shared and not await db.fetchall("SELECT 1 FROM jobs WHERE status = 'running' LIMIT 1"):
        return 0
    async with db.transaction() as conn:
        if not is_postgres(conn):
            cur = await conn.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'")
            return cur.rowcount
        rows = await conn.execute_fetchall("SELECT request_id FROM jobs WHERE status = 'running'")
        orphans = [
            r["request_id"]
            for r in rows
            if (
                await conn.execute_fetchall(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS free", (_held(r["request_id"]),)
                )
            )[0]["free"]
        ]
        if orphans:
            await conn.executemany(
                "UPDATE jobs SET status = 'queued' WHERE request_id = ? AND status = 'running'", [(i,) for i in orphans]
            )
        return len(orphans)


async def mark_done(conn: Connection, request_id: str, at: datetime, usage: Usage) -> None:
    stamp = timeutil.to_db(at)
    await conn.execute(
        "UPDATE jobs SET status = 'done', error = NULL, raw_output = NULL, updated_at = ?, finished_at = ?, "
        "llm_calls = llm_calls + ?, prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ? "
        "WHERE request_id = ?",
        (stamp, stamp, usage.llm_calls, usage.prompt_tokens, usage.completion_tokens, request_id),
    )


async def record_attempt(db: Database, request_id: str, usage: Usage, raw_output: str | None) -> None:
    """Keep what a failed attempt spent and the model reply it could not use."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET llm_calls = llm_calls + ?, prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ?, raw_output = ? WHERE request_id = ?",
            (usage.llm_calls, usage.prompt_tokens, usage.completion_tokens, raw_output, request_id),
        )


MAX_ERROR_CHARS = 4000


async def reschedule(
    conn: Connection,
    request_id: str,
    error: str,
    final: bool,
    run_after: datetime,
    now: datetime,
    counted: bool = True,
) -> None:
    """Queue a failed attempt again at `run_after`, or (final) fail the job for good, keeping its error; an attempt
    not `counted` is given back."""
    await conn.execute(
        "UPDATE jobs SET status = ?, attempts = attempts - ?, error = ?, run_after = ?, updated_at = ?, "
        "finished_at = ? WHERE request_id = ?",
        (
            "failed" if final else "queued",
            0 if counted else 1,
            error[:MAX_ERROR_CHARS],
            timeutil.to_db(run_after),
            timeutil.to_db(now),
            timeutil.to_db(now) if final else None,
            request_id,
        ),
    )


async def get(db: Database, tenant_id: str, request_id: str) -> Job | None:
    row = await db.fetchone(
        f"SELECT {COLUMNS} FROM jobs WHERE tenant_id = ? AND request_id = ?", (tenant_id, request_id)
    )
    return None if row is None else to_job(row)


async def page(db: Database, tenant_id: str, status: str | None, limit: int, offset: int) -> tuple[list[Job], int]:
    """The space's requests (with `status`, when given), newest first, and how many there are in all."""
    where, params = "tenant_id = ?", [tenant_id]
    if status is not None:
        where, params = f"{where} AND status = ?", [tenant_id, status]
    total = await db.fetchone(f"SELECT count(*) AS n FROM jobs WHERE {where}", params)
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM jobs WHERE {where} ORDER BY created_at DESC, request_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [to_job(r) for r in rows], int(total["n"]) if total else 0


async def since(
    db: Database, tenant_id: str, kind: str, at: datetime, user_id: str | None, limit: int
) -> tuple[dict[str, int], list[Job]]:
    """The space's requests of `kind` accepted at or after `at` (of `user_id`, when given): how many there are by
    status, and the newest `limit` of them."""
    where, params = "tenant_id = ? AND kind = ? AND created_at >= ?", [tenant_id, kind, timeutil.to_db(at)]
    if user_id is not None:
        where, params = f"{where} AND user_id = ?", [*params, user_id]
    counts = await db.fetchall(f"SELECT status, count(*) AS n FROM jobs WHERE {where} GROUP BY status", params)
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM jobs WHERE {where} ORDER BY created_at DESC, request_id LIMIT ?", [*params, limit]
    )
    return {r["status"]: int(r["n"]) for r in counts}, [to_job(r) for r in rows]


Origin = tuple[str | None, dict[str, Any]]


async def owned_elsewhere(conn: Connection, tenant_id: str, request_ids: Sequence[str]) -> set[str]:
    """Those of `request_ids` that name requests of another tenant or project (ids are unique across them)."""
    found: set[str] = set()
    for part in in_chunks(request_ids):
        rows = await conn.execute_fetchall(
            f"SELECT request_id FROM jobs WHERE request_id IN ({marks(part)}) AND tenant_id != ?", (*part, tenant_id)
        )
        found.update(r[0] for r in rows)
    return found


async def origins(db: Database, tenant_id: str, request_ids: Sequence[str]) -> dict[str, Origin]:
    """The source and attributes each of `request_ids` that has a job was published with."""
    found: dict[str, Origin] = {}
    for part in in_chunks(request_ids):
        rows = await db.fetchall(
            f"SELECT request_id, source, attributes FROM jobs WHERE tenant_id = ? AND request_id IN ({marks(part)})",
            (tenant_id, *part),
        )
        found.update({r["request_id"]: (r["source"], json.loads(r["attributes"] or "{}")) for r in rows})
    return found


async def requeue_failed(db: Database, tenant_id: str, request_id: str) -> None:
    """A failed job starts over: queued now, with its attempts reset."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_after = ?, finished_at = NULL "
            "WHERE tenant_id = ? AND request_id = ? AND status = 'failed'",
            (timeutil.to_db(timeutil.now()), tenant_id, request_id),
        )


async def by_payload(source: Database | Connection, tenant_id: str, user_id: str, digest: str) -> str | None:
    """The request that published this payload already, if any (`source`: the writer inside a transaction)."""
    rows = await read(
        source,
        "SELECT request_id FROM jobs WHERE tenant_id = ? AND user_id = ? AND payload_hash = ?",
        (tenant_id, user_id, digest),
    )
    return rows[0]["request_id"] if rows else None


async def delete_user(conn: Connection, tenant_id: str, user_id: str) -> int:
    cur = await conn.execute("DELETE FROM jobs WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return cur.rowcount


async def published(db: Database, tenant_id: str, user_id: str) -> list[tuple[Job, dict[str, Any]]]:
    """The user's published requests (extraction jobs) with the attributes they were published with, oldest first."""
    rows = await db.fetchall(
        f"SELECT {COLUMNS}, attributes FROM jobs WHERE tenant_id = ? AND user_id = ? AND kind = 'extract' "
        "ORDER BY rowid",
        (tenant_id, user_id),
    )
    return [(to_job(r), json.loads(r["attributes"] or "{}")) for r in rows]


async def published_request(db: Database, tenant_id: str, request_id: str) -> tuple[Job, dict[str, Any]] | None:
    """One published request (an extraction job) of the tenant by its id, with the attributes it was published
    with."""
    row = await db.fetchone(
        f"SELECT {COLUMNS}, attributes FROM jobs WHERE tenant_id = ? AND request_id = ? AND kind = 'extract'",
        (tenant_id, request_id),
    )
    return None if row is None else (to_job(row), json.loads(row["attributes"] or "{}"))


async def delete_requests(conn: Connection, tenant_id: str, request_ids: Sequence[str]) -> int:
    """Remove the jobs of these requests (their messages and facts are dealt with by the caller)."""
    if not request_ids:
        return 0
    cur = await conn.execute(
        f"DELETE FROM jobs WHERE tenant_id = ? AND request_id IN ({marks(request_ids)})", (tenant_id, *request_ids)
    )
    return cur.rowcount
