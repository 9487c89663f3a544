"""Waiting for a request's job (`wait: true`) ends when the job does, wherever it ran."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest

from memory_server.config import WorkerSettings
from memory_server.errors import Unavailable
from memory_server.jobs import WorkerPool, backoff, longest_backoff
from memory_server.store import jobs as jobsql


async def nothing(*_) -> None:
    return None


def pool(shared: bool) -> WorkerPool:
    db = SimpleNamespace(shared=shared)
    return WorkerPool(db, WorkerSettings(poll_seconds=0.05), nothing, nothing)  # type: ignore[arg-type]


@pytest.mark.parametrize("shared", [False, True])
async def test_a_job_this_process_finishes_ends_the_wait(shared):
    workers = pool(shared)
    waiting = asyncio.create_task(workers.wait_for("r1", 30, lambda: asyncio.sleep(0, False)))
    await asyncio.sleep(0.01)
    workers._finished("r1")
    await asyncio.wait_for(waiting, 5)


async def test_on_a_shared_database_a_job_another_process_finished_ends_the_wait_too():
    """No future of this process is set when a worker elsewhere ran the job: the wait looks at the job again."""
    workers = pool(shared=True)
    finished_at = time.monotonic() + 0.2

    async def is_final() -> bool:
        return time.monotonic() >= finished_at

    await asyncio.wait_for(workers.wait_for("r1", 30, is_final), 5)
    assert not workers._waiters


async def test_a_job_that_never_ends_is_waited_for_until_the_timeout():
    workers = pool(shared=True)
    checks = 0

    async def is_final() -> bool:
        nonlocal checks
        checks += 1
        return False

    await workers.wait_for("r1", 0.3, is_final)
    assert checks >= 3
    assert not workers._waiters


async def test_a_store_that_does_not_answer_is_logged_once_in_one_line_however_many_workers_poll(monkeypatch, caplog):
    """A locked database used to log a traceback per worker per poll (24k lines in 90 s)."""

    async def locked(*_) -> None:
        raise Unavailable("the database sqlite:///memory.sqlite3 is locked by another process; try again")

    monkeypatch.setattr(jobsql, "recover", nothing)
    monkeypatch.setattr(jobsql, "claim", locked)
    workers = WorkerPool(
        SimpleNamespace(shared=False),  # type: ignore[arg-type]
        WorkerSettings(poll_seconds=0.01, concurrency=4),
        nothing,
        locked,
    )
    with caplog.at_level(logging.WARNING, logger="memory_server.jobs"):
        await workers.start()
        await asyncio.sleep(0.5)
        await workers.stop()
    assert [(r.getMessage(), bool(r.exc_info)) for r in caplog.records] == [
        ("could not claim a job: the database sqlite:///memory.sqlite3 is locked by another process; try again", False),
        ("housekeeping failed: the database sqlite:///memory.sqlite3 is locked by another process; try again", False),
    ]


def test_a_try_not_counted_waits_its_backoff_even_when_a_job_has_a_single_try():
    """A claim takes a job due further ahead than `longest_backoff` (its clock stepped back): that bound must cover
    the first backoff an uncounted try waits, or such a job would be taken again at once, every poll."""
    single = WorkerSettings(max_attempts=1, retry_backoff_seconds=2.0)
    assert longest_backoff(single) == backoff(single, 1) == 2.0
    several = WorkerSettings(max_attempts=3, retry_backoff_seconds=2.0)
    assert longest_backoff(several) == backoff(several, 2) == 4.0
