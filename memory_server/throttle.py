"""Logging a failure that repeats (each flush, each search, each poll of a busy database) without flooding the log."""

from __future__ import annotations

import time


class Throttle:
    """When a failure that repeats is worth logging: the first time, then once a `seconds` while it lasts."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._logged: float | None = None

    def due(self) -> bool:
        now = time.monotonic()
        if self._logged is not None and now - self._logged < self.seconds:
            return False
        self._logged = now
        return True

    def reset(self) -> None:
        """It stopped failing: the next failure is logged at once."""
        self._logged = None
