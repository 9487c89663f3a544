"""The webhook outbox in SQL: an event reaches only its tenant's subscribers, claims and their recovery, retention."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from memory_server import timeutil, webhooks
from memory_server.models import Webhook
from memory_server.store import webhooks as hooksql
from memory_server.store.sqlite import SqliteDatabase

BACKOFF = 3600.0  # the longest retry backoff the claims are told of


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    yield db
    await db.close()


async def add_hook(db: SqliteDatabase, tenant_id: str, *events: str, enabled: bool = True) -> str:
    hook = Webhook(
        id=f"{tenant_id}-{len(events)}-{enabled}",
        url="https://hooks.example.com/",
        events=list(events),
        enabled=enabled,
        created_by="test",
        created_at=timeutil.now(),
    )
    async with db.transaction() as conn:
        await hooksql.insert(conn, tenant_id, hook, webhooks.new_secret())
    return hook.id


async def emit(db: SqliteDatabase, tenant_id: str, event_type: str, data: dict) -> str | None:
    async with db.transaction() as conn:
        return await webhooks.emit(conn, tenant_id, event_type, data)


async def test_an_event_goes_to_the_enabled_webhooks_of_its_tenant_that_want_it(db):
    wants = await add_hook(db, "A", "request.failed")
    await add_hook(db, "A", "request.done", "segment.entered")
    await add_hook(db, "A", "request.failed", "request.done", "segment.exited", enabled=False)
    await add_hook(db, "B", "request.failed", "request.done")
    event_id = await emit(db, "A", "request.failed", {"user_id": "ana", "request_id": "r1", "error": "boom"})
    rows = await db.fetchall("SELECT webhook_id, event_id, status, attempts FROM webhook_deliveries")
    assert [tuple(r) for r in rows] == [(wants, event_id, "pending", 0)]
    [event] = await db.fetchall("SELECT tenant_id, user_id, type, body FROM webhook_events")
    assert (event["tenant_id"], event["user_id"], event["type"]) == ("A", "ana", "request.failed")
    body = json.loads(event["body"])
    assert body["data"] == {"user_id": "ana", "request_id": "r1", "error": "boom"}
    assert (body["type"], set(body)) == ("request.failed", {"type", "timestamp", "data"})


async def test_an_event_nobody_wants_stores_nothing(db):
    await add_hook(db, "B", "request.failed")
    assert await emit(db, "A", "request.failed", {"user_id": "ana"}) is None
    assert await emit(db, "B", "request.done", {"user_id": "ana"}) is None
    for table in ("webhook_events", "webhook_deliveries"):
        assert (await db.fetchone(f"SELECT count(*) FROM {table}"))[0] == 0


async def test_an_unknown_event_type_is_a_programming_error(db):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        await emit(db, "A", "user.sneezed", {})


async def test_an_emit_rolled_back_with_its_transaction_leaves_nothing(db):
    await add_hook(db, "A", "request.failed")
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await webhooks.emit(conn, "A", "request.failed", {"user_id": "ana"})
            raise RuntimeError("the change that caused it failed")
    assert (await db.fetchone("SELECT count(*) FROM webhook_events"))[0] == 0


async def test_a_claim_counts_the_attempt_and_a_stale_or_recovered_claim_is_taken_again(db):
    await add_hook(db, "A", "request.failed")
    await emit(db, "A", "request.failed", {"user_id": "ana"})
    now = timeutil.now()
    [first] = await hooksql.claim(db, now, now - timedelta(minutes=1), 10, 1, BACKOFF)
    assert first.attempts == 1
    assert await hooksql.claim(db, now, now - timedelta(minutes=1), 10, 1, BACKOFF) == []  # in flight: not taken twice
    [again] = await hooksql.claim(db, now + timedelta(seconds=1), now + timedelta(seconds=1), 10, 1, BACKOFF)  # stale
    assert (again.event_id, again.attempts) == (first.event_id, 2)
    assert not await hooksql.finish(
        db, first, status="delivered", next_attempt_at=None, status_code=200, error=None, at=now
    )
    assert await hooksql.recover(db) == 1
    [third] = await hooksql.claim(db, timeutil.now(), now - timedelta(minutes=1), 10, 1, BACKOFF)
    assert (third.event_id, third.attempts) == (first.event_id, 3)


async def test_a_delivery_due_further_ahead_than_any_backoff_is_due_now(db):
    """After the clock steps back (a server that ran two hours ahead), what it scheduled is not held back."""
    await add_hook(db, "A", "request.failed")
    now = timeutil.now()
    async with db.transaction() as conn:
        ahead = await webhooks.emit(conn, "A", "request.failed", {"user_id": "ana"}, at=now + timedelta(hours=2))
        await webhooks.emit(conn, "A", "request.failed", {"user_id": "bo"}, at=now + timedelta(minutes=30))
    stale = now - timedelta(minutes=1)
    [claimed] = await hooksql.claim(db, now, stale, 10, 2, BACKOFF)
    assert claimed.event_id == ahead


async def test_retention_deletes_finished_deliveries_and_their_events_but_never_pending_ones(db):
    await add_hook(db, "A", "request.failed")
    await add_hook(db, "A", "request.failed", "request.done")
    kept = await emit(db, "A", "request.failed", {"user_id": "ana"})  # two deliveries: one finishes, one pends
    gone = await emit(db, "A", "request.done", {"user_id": "ana"})
    now = timeutil.now()
    claimed = await hooksql.claim(db, now, now, 10, 2, BACKOFF)  # the second hook has two due
    assert sorted(c.event_id for c in claimed) == sorted([kept, kept, gone])
    finished = [next(c for c in claimed if c.event_id == kept), next(c for c in claimed if c.event_id == gone)]
    for item in finished:
        await hooksql.finish(db, item, status="delivered", next_attempt_at=None, status_code=204, error=None, at=now)
    assert await hooksql.sweep(db, now) == 0  # not old enough
    assert await hooksql.sweep(db, now + timedelta(seconds=1)) == 2
    left = await db.fetchall("SELECT event_id, status FROM webhook_deliveries")
    assert [tuple(r) for r in left] == [(kept, "pending")]
    assert [r["id"] for r in await db.fetchall("SELECT id FROM webhook_events")] == [kept]


async def test_a_claim_takes_at_most_per_webhook_of_each_webhooks_deliveries_oldest_first(db):
    await add_hook(db, "A", "request.failed")
    events = [await emit(db, "A", "request.failed", {"user_id": f"u{i}"}) for i in range(3)]
    now = timeutil.now()
    stale = now - timedelta(minutes=1)
    [first] = await hooksql.claim(db, now, stale, 10, 1, BACKOFF)
    assert first.event_id == events[0]
    assert await hooksql.claim(db, now, stale, 10, 1, BACKOFF) == []  # its one slot is taken
    [second] = await hooksql.claim(db, now, stale, 10, 2, BACKOFF)
    assert second.event_id == events[1]
    await hooksql.finish(db, first, status="delivered", next_attempt_at=None, status_code=204, error=None, at=now)
    [third] = await hooksql.claim(db, now, stale, 10, 2, BACKOFF)
    assert third.event_id == events[2]
