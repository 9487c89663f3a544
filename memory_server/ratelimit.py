"""Token buckets in memory, per API key or per client address (one process owns the data directory, so one
limiter is enough)."""

from __future__ import annotations

import math
import time

from memory_server.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, what: str = "requests") -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self.what = what
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        """Spend one of `key`'s allowance, or raise RateLimited saying when to come back."""
        tokens = self.check(key)
        self._buckets[key] = (tokens - 1.0, time.monotonic())

    def check(self, key: str) -> float:
        """Raise RateLimited if `key` has nothing left, without spending; return what it has."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        self._buckets[key] = (tokens, now)
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))  # the Retry-After header says the same
            raise RateLimited(
                f"rate limit of {int(self.burst)} {self.what} per minute reached; retry in {wait} s", wait
            )
        if len(self._buckets) > 100_000:  # addresses are unbounded: forget full buckets
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst}
        return tokens
