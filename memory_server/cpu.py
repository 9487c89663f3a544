"""CPU-bound work off the event loop: a process pool for extraction, threads for big reads.

One request must never stall another, and Python holds the GIL for pure-Python work, so CPU-heavy
extraction runs in worker processes (pebble kills one that overruns its budget, and a dead one is
replaced for the next task). The pool starts on first use, with "forkserver": forking the server
itself would copy its onnxruntime and SQLite threads into the child in an undefined state.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from extractors.registry import EXTRACTORS

T = TypeVar("T")


class BudgetExceeded(Exception):
    """A request's CPU work took longer than its budget; its worker process was stopped."""


class WorkerDied(Exception):
    """The process running a task died (killed, out of memory, a crash in native code)."""


class Budget:
    """The seconds of computing one request may use, counted from when its work began."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        """Seconds left; raise BudgetExceeded when none are."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise self.exceeded(what)
        return left

    def exceeded(self, what: str) -> BudgetExceeded:
        return BudgetExceeded(
            f"{what} took longer than its budget of {self.seconds:g} s (workers.extraction_budget_seconds): "
            "send the conversation in smaller requests or raise the budget"
        )


def default_processes() -> int:
    """One process per core, leaving one core to the event loop."""
    return max(1, (os.cpu_count() or 1) - 1)


def _warm_up() -> None:
    """Import the installed extractors once per worker, outside any budget (a module-level function: pebble
    pickles the initializer, and the registry may hold in-process factories that cannot be pickled)."""
    EXTRACTORS.load_all()


class CpuPool:
    """Worker processes for CPU-bound tasks, started on the first task and stopped by `close`."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or default_processes()
        self._pool: ProcessPool | None = None
        self._starting = asyncio.Lock()

    async def run(self, budget: Budget, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a worker; past the budget, stop it and raise BudgetExceeded."""
        pool = await self._started()
        future = pool.schedule(fn, args=args, timeout=budget.remaining(what))
        try:
            return await asyncio.wrap_future(future)
        except FutureTimeout:
            raise budget.exceeded(what) from None
        except ProcessExpired as exc:
            raise WorkerDied(f"the process running {what} died (exit code {exc.exitcode}); try again") from None

    async def _started(self) -> ProcessPool:
        """The pool, started in a thread: launching processes blocks for tens of milliseconds."""
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncio.to_thread(self._start)
            return self._pool

    def _start(self) -> ProcessPool:
        pool = ProcessPool(
            max_workers=self.processes,
            initializer=_warm_up,
            context=multiprocessing.get_context("forkserver"),
        )
        if not pool.active:  # reading `active` launches the workers
            raise WorkerDied("the extraction worker processes did not start")
        return pool

    async def close(self) -> None:
        """Stop the workers, killing any task still running."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()
            await asyncio.to_thread(pool.join)


async def off_loop(big: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a thread when its input is big; small inputs stay inline, where a hand-off costs more."""
    if big:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)
