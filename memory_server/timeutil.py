"""UTC timestamps stored as fixed-width ISO-8601 text, so that SQL string order is time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime:
    return datetime.now(UTC)


def to_db(value: datetime) -> str:
    """Naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_FMT)


def from_db(value: str | None) -> datetime | None:
    """fromisoformat reads our format (with its Z) ~40x faster than strptime: this is on the profile hot path."""
    if value is None:
        return None
    return datetime.fromisoformat(value)


def later(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)
