"""The durable ingest queue (table `jobs`) and the workers that drain it.

A job is claimed by flipping it to `running` in one statement; a job found `running` at start-up was
interrupted by a crash and goes back to `queued`. Jobs of one user run one at a time and in the order
they were accepted, so a later message ("I moved to Lisbon") is always reconciled after an earlier one.
A failing job is retried with exponential backoff, then marked `failed` with its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from extractors.base import Usage
from memory_server import timeutil
from memory_server.config import WorkerSettings
from memory_server.db import Database
from memory_server.models import Job, JobUsage

log = logging.getLogger(__name__)

COLUMNS = (
    "request_id, user_id, kind, status, attempts, error, source, session_id, created_at, updated_at, finished_at, "
    "llm_calls, prompt_tokens, completion_tokens, raw_output"
)


def to_job(row: aiosqlite.Row) -> Job:
    return Job(
        request_id=row[0],
        user_id=row[1],
        kind=row[2],
        status=row[3],
        attempts=row[4],
        error=row[5],
        source=row[6],
        session_id=row[7],
        created_at=timeutil.from_db(row[8]),
        updated_at=timeutil.from_db(row[9]),
        finished_at=timeutil.from_db(row[10]),
        usage=JobUsage(llm_calls=row[11], prompt_tokens=row[12], completion_tokens=row[13]),
        raw_output=row[14],
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
    conn: aiosqlite.Connection,
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
) -> None:
    stamp = timeutil.to_db(at)
    await conn.execute(
        "INSERT INTO jobs (request_id, tenant_id, user_id, kind, status, attempts, source, session_id, attributes, "
        "payload_hash, actor, run_after, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            request_id,
            tenant_id,
            user_id,
            kind,
            source,
            session_id,
            json.dumps(attributes or {}, ensure_ascii=False),
            payload_hash,
            actor,
            stamp,
            stamp,
            stamp,
        ),
    )


_CLAIM = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = :now, error = NULL
WHERE rowid = (
    SELECT j.rowid FROM jobs j
    WHERE j.status = 'queued' AND j.run_after <= :now
      AND NOT EXISTS (
          SELECT 1 FROM jobs o WHERE o.tenant_id = j.tenant_id AND o.user_id = j.user_id
            AND (o.status = 'running' OR (o.status = 'queued' AND o.rowid < j.rowid)))
    ORDER BY j.rowid LIMIT 1)
RETURNING tenant_id, request_id, user_id, kind, attempts, source, attributes, actor
"""


async def claim(db: Database) -> ClaimedJob | None:
    """Take the oldest due job whose user has no earlier job pending."""
    async with db.transaction() as conn, conn.execute(_CLAIM, {"now": timeutil.to_db(timeutil.now())}) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    return ClaimedJob(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7])


async def recover(db: Database) -> int:
    """Requeue the jobs a crash left running."""
    async with db.transaction() as conn:
        cur = await conn.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'")
        return cur.rowcount


async def mark_done(conn: aiosqlite.Connection, request_id: str, at: datetime, usage: Usage) -> None:
    stamp = timeutil.to_db(at)
    await conn.execute(
        "UPDATE jobs SET status = 'done', error = NULL, raw_output = NULL, updated_at = ?, finished_at = ?, "
        "llm_calls = llm_calls + ?, prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ? "
        "WHERE request_id = ?",
        (stamp, stamp, usage.calls, usage.prompt_tokens, usage.completion_tokens, request_id),
    )


async def record_attempt(db: Database, request_id: str, usage: Usage, raw_output: str | None) -> None:
    """Keep what a failed attempt spent and the model reply it could not use."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET llm_calls = llm_calls + ?, prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ?, raw_output = ? WHERE request_id = ?",
            (usage.calls, usage.prompt_tokens, usage.completion_tokens, raw_output, request_id),
        )


async def mark_failed(db: Database, job: ClaimedJob, error: str, settings: WorkerSettings) -> bool:
    """Schedule a retry, or fail the job for good after max_attempts; return True when final."""
    now = timeutil.now()
    final = job.attempts >= settings.max_attempts
    delay = settings.retry_backoff_seconds * (2 ** (job.attempts - 1))
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET status = ?, error = ?, run_after = ?, updated_at = ?, finished_at = ? "
            "WHERE request_id = ?",
            (
                "failed" if final else "queued",
                error[:4000],
                timeutil.to_db(timeutil.later(now, delay)),
                timeutil.to_db(now),
                timeutil.to_db(now) if final else None,
                job.request_id,
            ),
        )
    return final


class WorkerPool:
    """Runs `handler` on claimed jobs with bounded concurrency; `tick` runs on every idle poll."""

    def __init__(
        self,
        db: Database,
        settings: WorkerSettings,
        handler: Callable[[ClaimedJob], Awaitable[None]],
        tick: Callable[[], Awaitable[None]],
    ) -> None:
        self.db = db
        self.settings = settings
        self.handler = handler
        self.tick = tick
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def start(self) -> None:
        await recover(self.db)
        self._tasks = [asyncio.create_task(self._work(), name=f"worker-{i}") for i in range(self.settings.concurrency)]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def notify(self) -> None:
        self._wake.set()

    async def wait_for(self, request_id: str, timeout: float, is_final: Callable[[], Awaitable[bool]]) -> None:
        """Return when the job is done or failed for good, or after timeout (whichever comes first).

        The future is registered before `is_final` is checked, so a job finishing in between is not missed.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, []).append(future)
        try:
            if not await is_final():
                async with asyncio.timeout(timeout):
                    await future
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(request_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(request_id, None)

    def _finished(self, request_id: str) -> None:
        for future in self._waiters.pop(request_id, []):
            if not future.done():
                future.set_result(None)

    async def _work(self) -> None:
        while True:
            try:
                job = await claim(self.db)
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or busy database must not end the worker
                log.exception("could not claim a job; trying again")
                await asyncio.sleep(self.settings.poll_seconds)
                continue
            if job is None:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 a cancel racing wait_for's own timeout can be lost,
                # and stop() then waits for this task forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_seconds):
                        await self._wake.wait()
                continue
            self._wake.set()  # there may be more: let another worker look
            await self._run(job)

    async def _run(self, job: ClaimedJob) -> None:
        try:
            await self.handler(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job %s failed (attempt %d): %s", job.request_id, job.attempts, exc)
            if not await mark_failed(self.db, job, f"{type(exc).__name__}: {exc}", self.settings):
                return
        self._finished(job.request_id)
        self._wake.set()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")
