"""Rate limits: in memory for one process, shared through PostgreSQL by several."""

from __future__ import annotations

import pytest

from memory_server.errors import RateLimited
from memory_server.ratelimit import RateLimiter
from memory_server.store.db import connect


async def test_one_process_counts_in_memory(settings):
    limiter = RateLimiter(3)
    for _ in range(3):
        await limiter.check("k")
        await limiter.take("k")
    with pytest.raises(RateLimited) as err:
        await limiter.take("k")
    assert err.value.retry_after == 20  # one token back in 60 / 3 seconds
    await limiter.take("other")  # buckets are per key


async def test_processes_on_one_postgresql_database_share_the_limit(settings, storage_url, tmp_path):
    if storage_url is None:
        pytest.skip("needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")
    first, second = connect(storage_url, tmp_path / "x"), connect(storage_url, tmp_path / "x")
    await first.open()
    await second.open()
    try:
        a, b = RateLimiter(3, db=first), RateLimiter(3, db=second)
        await a.take("k")
        await b.take("k")
        await a.check("k")  # checking spends nothing
        await b.take("k")
        with pytest.raises(RateLimited) as err:
            await a.take("k")
        assert 1 <= err.value.retry_after <= 20
        with pytest.raises(RateLimited):
            await b.check("k")
        await b.take("other")
        await a.sweep()  # recent buckets are kept
        assert {r["name"] for r in await first.fetchall("SELECT name FROM rate_buckets")} == {
            "requests:k",
            "requests:other",
        }
    finally:
        await first.close()
        await second.close()
