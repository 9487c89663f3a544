"""Logging a failure that repeats (each flush, each search, each poll of a busy database) without flooding the log."""

from __future__ import annotations

import time

from memory_server.errors import Unavailable


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


def worth_a_traceback(exc: Exception) -> bool:
    """Whether a failure deserves its traceback: a store that does not answer (`Unavailable`) says all in one line."""
    return not isinstance(exc, Unavailable)
