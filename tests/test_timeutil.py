"""Stored timestamps: fixed width, ordered as text like in time, read back exactly, at the edges of the range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from memory_server import timeutil

EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(2026, 5, 1, 12, 30, 1, 5, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


def test_stored_form_is_fixed_width_ordered_and_read_back_exactly():
    stored = [timeutil.to_db(t) for t in EDGES]
    assert stored[0] == "0001-01-01T00:00:00.000000Z"
    assert {len(s) for s in stored} == {27}
    assert sorted(stored) == stored
    assert [timeutil.from_db(s) for s in stored] == EDGES


def test_naive_is_taken_as_utc_and_offsets_are_converted():
    assert timeutil.to_db(datetime(999, 1, 1)) == "0999-01-01T00:00:00.000000Z"
    assert timeutil.to_db(datetime(1000, 1, 1, 1, tzinfo=timezone(timedelta(hours=2)))) == (
        "0999-12-31T23:00:00.000000Z"
    )


@pytest.mark.parametrize("seconds", [1, 10 * 365 * 86_400, 2**63, 1e300])
def test_later_clamps_at_the_latest_representable_time(seconds):
    start = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert timeutil.later(start, seconds) == timeutil.LATEST
    assert timeutil.to_db(timeutil.later(start, seconds)) == "9999-12-31T23:59:59.999999Z"


def test_later_adds_within_the_range():
    assert timeutil.later(datetime(2026, 1, 1, tzinfo=UTC), 60) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
