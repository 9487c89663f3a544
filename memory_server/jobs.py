"""The workers that drain the durable ingest queue (`store.jobs`).

A job is claimed by flipping it to `running` in one statement; a job found `running` at start-up was
interrupted by a crash and goes back to `queued` (on a shared PostgreSQL database, at any tick, once the process
that claimed it is gone: `store.jobs.recover`). Jobs of one user run one at a time and in the order
they were accepted, so a later message ("I moved to Lisbon") is always reconciled after an earlier one.
A failing job is retried with exponential backoff, then marked `failed` with its error, and a
`request.failed` webhook event is emitted in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from memory_server import tasks, timeutil, webhooks
from memory_server.config import WorkerSettings
from memory_server.errors import Unavailable
from memory_server.store import jobs as jobsql
from memory_server.store.db import Database
from memory_server.store.jobs import ClaimedJob
from memory_server.throttle import Throttle, worth_a_traceback

log = logging.getLogger(__name__)

T = TypeVar("T")


def backoff(settings: WorkerSettings, attempts: int) -> float:
    """Seconds before the next try after `attempts` tries: doubling from `retry_backoff_seconds`."""
    return settings.retry_backoff_seconds * 2 ** (attempts - 1)


def longest_backoff(settings: WorkerSettings) -> float:
    """The furthest ahead a retry ever schedules a job: after the last try but one, or after a try not counted
    (`mark_failed`), which waits the first backoff even when a job has a single try."""
    return backoff(settings, max(1, settings.max_attempts - 1))


async def mark_failed(
    db: Database, job: ClaimedJob, error: str, settings: WorkerSettings, counted: bool = True
) -> bool:
    """Schedule a retry with exponential backoff, or fail the job for good after max_attempts; True when final. An
    attempt not `counted` (the store did not answer: the job itself was not tried) is retried after the first
    backoff however long that lasts, and never fails the job."""
    final = counted and job.attempts >= settings.max_attempts
    delay = backoff(settings, job.attempts if counted else 1)
    now = timeutil.now()
    async with db.transaction() as conn:
        await jobsql.reschedule(conn, job.request_id, error, final, timeutil.later(now, delay), now, counted)
        if final:
            data = {"user_id": job.user_id, "request_id": job.request_id, "error": error[: jobsql.MAX_ERROR_CHARS]}
            await webhooks.emit(conn, job.tenant_id, "request.failed", data, at=now)
    return final


class WorkerPool:
    """Runs `handler` on claimed jobs with bounded concurrency; `tick` runs on every idle poll; `after_job` after
    each attempt at a job has committed (it wakes the webhook dispatcher for the events the job emitted)."""

    def __init__(
        self,
        db: Database,
        settings: WorkerSettings,
        handler: Callable[[ClaimedJob], Awaitable[None]],
        tick: Callable[[], Awaitable[None]],
        after_job: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.handler = handler
        self.tick = tick
        self.after_job = after_job
        self._wake = asyncio.Event()
        self._draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        # Failures that repeat each poll while the store is away (every worker's claim, each tick): once a minute.
        self._claim_failures = Throttle()
        self._housekeeping_failures = Throttle()
        self._record_failures = Throttle()

    async def start(self) -> None:
        await jobsql.recover(self.db)
        self._tasks = [asyncio.create_task(self._work(), name=f"worker-{i}") for i in range(self.settings.concurrency)]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))

    async def stop(self) -> None:
        await tasks.stop(self._tasks)
        self._tasks = []

    def notify(self) -> None:
        self._wake.set()

    def drain(self) -> None:
        """The process is stopping: claim no more jobs (the ones running finish, or are taken up again at the next
        start), and let every wait return now with its job as it stands, so the server's open requests end."""
        self._draining = True
        self._wake.set()
        for request_id in list(self._waiters):
            self._finished(request_id)

    async def wait_for(self, request_id: str, timeout: float, is_final: Callable[[], Awaitable[bool]]) -> None:
        """Return when the job is done or failed for good, or after timeout (whichever comes first).

        The future is registered before `is_final` is checked, so a job finishing in between is not missed. No
        future of this process is set when the job ends elsewhere (another process ran it, on a shared database)
        or is deleted (its user purged, or the request retracted, while its model call runs): the job is looked at
        again every `poll_seconds`.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, []).append(future)
        again = self.settings.poll_seconds
        try:
            async with asyncio.timeout(timeout):
                while not self._draining and not await is_final():
                    done, _ = await asyncio.wait({future}, timeout=again)
                    if done:
                        break
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
        while not self._draining:
            try:
                job = await jobsql.claim(self.db, longest_backoff(self.settings))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a locked or busy database must not end the worker
                if self._claim_failures.due():
                    log.warning("could not claim a job: %s", exc, exc_info=worth_a_traceback(exc))
                await asyncio.sleep(self.settings.poll_seconds)
                continue
            self._claim_failures.reset()
            if job is None:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 a cancel racing wait_for's own timeout can be lost,
                # and stop() then waits for this task forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_seconds):
                        await self._wake.wait()
                continue
            if self._draining:  # claimed as the process began to stop: back to the queue, untouched
                await self._record(job, partial(jobsql.unclaim, self.db, job.request_id))
                break
            self._wake.set()  # there may be more: let another worker look
            await self._run(job)

    async def _run(self, job: ClaimedJob) -> None:
        try:
            await self.handler(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job %s failed (attempt %d): %s", job.request_id, job.attempts, exc)
            error = f"{type(exc).__name__}: {exc}"
            tried = not isinstance(exc, Unavailable)  # a database or index away: the job itself was not tried
            final = await self._record(job, partial(mark_failed, self.db, job, error, self.settings, tried))
        else:
            final = True
        await self._record(job, partial(jobsql.release, self.db, job.request_id))
        self.after_job()
        if final:
            self._finished(job.request_id)
            self._wake.set()

    async def _record(self, job: ClaimedJob, write: Callable[[], Awaitable[T]]) -> T | None:
        """Write what became of a job, again every `poll_seconds` while the store does not answer (a locked file, a
        full disk, a database away), so that the worker lives on and the job is settled once it does. None when the
        process stops first: the job is left running, and the next start puts it back in the queue."""
        while True:
            try:
                result = await write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._draining:
                    log.warning(
                        "could not record the outcome of job %s, left to the next start: %s", job.request_id, exc
                    )
                    return None
                if self._record_failures.due():
                    log.warning(
                        "could not record the outcome of job %s, trying again: %s",
                        job.request_id,
                        exc,
                        exc_info=worth_a_traceback(exc),
                    )
                await asyncio.sleep(self.settings.poll_seconds)
            else:
                self._record_failures.reset()
                return result

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                if self.db.shared and await jobsql.recover(self.db):  # another process died holding jobs
                    self._wake.set()
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._housekeeping_failures.due():
                    log.warning("housekeeping failed: %s", exc, exc_info=worth_a_traceback(exc))
            else:
                self._housekeeping_failures.reset()
