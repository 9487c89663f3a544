"""Stopping background tasks for sure, and shutting down to the end.

On Python 3.11 `asyncio.wait_for` swallows a cancel that lands just as the awaited thing completes (fixed in
3.12). psycopg_pool waits for a free connection that way, so a worker cancelled at the moment it is handed a
connection goes on running, and a shutdown that awaits it once waits forever (it stalled the PostgreSQL tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

#: How long a cancelled task gets before it is cancelled again.
RETRY_SECONDS = 0.1


async def stop(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and return once every one has ended, cancelling again any that went on running."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RETRY_SECONDS)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())


async def finish(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` (a shutdown) to its end even when the caller is cancelled meanwhile, then pass the cancel on.

    uvicorn re-raises the SIGINT it caught once it has stopped serving, and `asyncio.run` answers it by cancelling
    the main task, which by then is closing the service: cut short there, the database is never closed and its
    threads keep the process from exiting.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
