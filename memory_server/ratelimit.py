"""Token buckets per API key or per client address: in memory when one process serves (SQLite), in the database
when several share a PostgreSQL one (`store.ratelimits`), so a limit holds however many processes serve."""

from __future__ import annotations

import math
import time

from memory_server.errors import RateLimited
from memory_server.store import ratelimits
from memory_server.store.db import Database


class RateLimiter:
    def __init__(self, per_minute: int, what: str = "requests", db: Database | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self.what = what
        self._db = db if db is not None and db.shared else None
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str) -> None:
        """Spend one of `key`'s allowance, or raise RateLimited saying when to come back."""
        self._judge(await self._spend(key, 1.0))

    async def check(self, key: str) -> None:
        """Raise RateLimited if `key` has nothing left, without spending."""
        self._judge(await self._spend(key, 0.0))

    async def sweep(self) -> None:
        """Forget the shared buckets full again (idle for the time a bucket takes to refill)."""
        if self._db is not None:
            await ratelimits.sweep(self._db, 2 * self.burst / self.rate)

    async def _spend(self, key: str, amount: float) -> float:
        if self._db is not None:
            return await ratelimits.spend(self._db, f"{self.what}:{key}", self.burst, self.rate, amount)
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        self._buckets[key] = (tokens - amount if tokens >= 1.0 else tokens, now)
        if len(self._buckets) > 100_000:  # addresses are unbounded: forget full buckets
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst}
        return tokens

    def _judge(self, tokens: float) -> None:
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))  # the Retry-After header says the same
            raise RateLimited(
                f"rate limit of {int(self.burst)} {self.what} per minute reached; retry in {wait} s", wait
            )
