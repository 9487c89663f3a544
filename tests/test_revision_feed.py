"""When the revision feed vouches for this process's own writes, whatever order their marks come back in: the
bookkeeping alone, with the marks' arrival played by hand (tests/scaleout runs it on a real PostgreSQL)."""

from __future__ import annotations

import pytest

from memory_server.store.revision_feed import RevisionFeed


@pytest.fixture
def feed() -> RevisionFeed:
    notified: list[str] = []

    async def notify(payload: str) -> None:
        notified.append(payload)

    feed = RevisionFeed("postgresql://unused", lambda space, user: None, notify)
    feed.epoch = 1  # listening
    feed.notified = notified  # type: ignore[attr-defined]
    return feed


async def test_a_heartbeat_made_before_a_write_commits_does_not_answer_for_it(feed):
    payload, number = feed.mark()  # a write transaction's mark, made before it commits
    await feed.catch_up()  # a heartbeat sent meanwhile from another connection, which commits at once
    feed._received(feed.notified[-1])
    assert feed.caught_up()
    feed.sent(number)  # the write commits: its news is on its way behind the heartbeat's
    assert not feed.caught_up()
    feed._received(payload)
    assert feed.caught_up()


async def test_a_mark_back_before_its_transaction_said_it_committed_counts(feed):
    payload, number = feed.mark()
    feed._received(payload)  # the listener ran before the writer resumed after its commit
    feed.sent(number)
    assert feed.caught_up()


async def test_a_mark_made_after_a_write_committed_answers_for_it(feed):
    _, number = feed.mark()
    feed.sent(number)
    second, later = feed.mark()  # the next transaction, which commits after the first
    feed.sent(later)
    feed._received(second)  # the first mark's notification was lost with nothing else (or arrived unread)
    assert feed.caught_up()


async def test_a_mark_made_before_the_feed_listened_waits_for_the_next_heartbeat_only(feed):
    feed.epoch = None
    _, number = feed.mark()  # made while not listening; its commit may have come before LISTEN
    feed.epoch = 2
    feed.sent(number)
    assert not feed.caught_up()
    await feed.catch_up()
    feed._received(feed.notified[-1])
    assert feed.caught_up()
