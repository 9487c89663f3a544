"""A token bucket per API key, in memory (one process owns the data directory, so one limiter is enough)."""

from __future__ import annotations

import time

from memory_server.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        """Spend one request of `key`'s allowance, or raise RateLimited saying when to come back."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            raise RateLimited(
                f"rate limit of {int(self.burst)} requests per minute reached; retry in {wait:.1f} s", wait
            )
        self._buckets[key] = (tokens - 1.0, now)
