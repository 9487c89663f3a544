"""The retrieval log: what each profile and search returned (ids and scores as answered), for which request, query
and caller; scoped like all memory, purged with the user, swept after its retention, off when disabled, written
behind the request path and on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from mcp import Client

from memory_server import keys, timeutil
from memory_server.api.app import create_app
from memory_server.config import RetrievalLogSettings, Settings
from memory_server.errors import Unavailable
from memory_server.store.retrievals import RetrievalBuffer
from tests.conftest import running
from tests.fakes import fact

FACTS = [fact("User is a nurse", confidence=0.9), fact("User is learning Rust this month", kind="dynamic")]


async def seed(client, fake, user: str = "ana", **headers: str) -> None:
    assert (await client.put("/v1/config", json={"extractor": "fake"}, headers=headers)).status_code == 200
    fake.queue(list(FACTS))
    r = await client.post(
        "/v1/interactions",
        json={"user_id": user, "messages": [{"role": "user", "content": "I'm a nurse learning Rust"}], "wait": True},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["status"] == "done", r.text


@asynccontextmanager
async def served(settings: Settings, **log: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app whose retrieval log has the settings `log`, and a client of it."""
    app = create_app(settings.model_copy(update={"retrieval_log": RetrievalLogSettings(**log)}))
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield app, client


async def logged(client, service, user: str = "ana", **headers: str) -> list[dict]:
    await service.retrievals.flush()
    r = await client.get(f"/v1/users/{user}/retrievals", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_profile_and_search_are_logged_with_the_ids_and_scores_they_returned(client, fake, service):
    await seed(client, fake)
    profile = await client.post("/v1/profile", json={"user_id": "ana", "q": "programming language"})
    search = await client.post("/v1/search", json={"user_id": "ana", "query": "nurse", "threshold": 0})
    answered_profile, answered_search = profile.json(), search.json()
    assert answered_search["results"] and answered_profile["searchResults"]["results"]

    newest, oldest = await logged(client, service)
    assert (newest["kind"], newest["query"], newest["actor"]) == ("search", "nurse", "local")
    assert newest["request_id"] == search.headers["X-Request-Id"]
    assert [(m["id"], m["type"], m["score"]) for m in newest["memories"]] == [
        (h["id"], h["type"], h["score"]) for h in answered_search["results"]
    ]
    assert (oldest["kind"], oldest["query"], oldest["request_id"]) == (
        "profile",
        "programming language",
        profile.headers["X-Request-Id"],
    )
    shown = answered_profile["profile"]
    expected = [(f["id"], None, "static") for f in shown["static"]] + [
        (f["id"], None, "dynamic") for f in shown["dynamic"]
    ]
    expected += [(h["id"], h["score"], "search") for h in answered_profile["searchResults"]["results"]]
    assert [(m["id"], m["score"], m["section"]) for m in oldest["memories"]] == expected


async def test_pages_run_newest_first(client, fake, service):
    await seed(client, fake)
    for query in ("one", "two", "three"):
        assert (await client.post("/v1/search", json={"user_id": "ana", "query": query})).status_code == 200
    await service.retrievals.flush()
    first = (await client.get("/v1/users/ana/retrievals", params={"limit": 2})).json()
    rest = (await client.get("/v1/users/ana/retrievals", params={"cursor": first["next_cursor"]})).json()
    assert [e["query"] for e in first["items"] + rest["items"]] == ["three", "two", "one"]
    assert rest["next_cursor"] is None


async def test_another_tenant_or_project_sees_nothing(client, fake, service):
    db = service.core.db
    a_admin = {"X-API-Key": (await keys.create(db, "A", "admin")).key}
    b_viewer = {"X-API-Key": (await keys.create(db, "B", "viewer")).key}
    assert (await client.post("/v1/projects", json={"name": "second"}, headers=a_admin)).status_code == 201
    await seed(client, fake, **a_admin)
    assert (await client.post("/v1/profile", json={"user_id": "ana", "q": "nurse"}, headers=a_admin)).status_code == 200
    assert len(await logged(client, service, **a_admin)) == 1
    assert await logged(client, service, **b_viewer) == []
    assert await logged(client, service, **{**a_admin, "X-Project-Id": "2"}) == []


async def test_purging_the_user_removes_written_and_buffered_entries(settings, fake):
    async with served(settings, flush_seconds=60) as (app, client):  # nothing is written but by `flush`
        service = app.state.service
        await seed(client, fake)
        await client.post("/v1/profile", json={"user_id": "ana", "q": "nurse"})
        await service.retrievals.flush()
        await client.post("/v1/search", json={"user_id": "ana", "query": "Rust"})  # still buffered
        await client.post("/v1/search", json={"user_id": "bob", "query": "Rust"})
        purged = await client.delete("/v1/users/ana")
        assert purged.status_code == 200 and purged.json()["purged"]["retrievals"] == 1
        assert await logged(client, service) == []
        assert [e["user_id"] for e in await logged(client, service, "bob")] == ["bob"]


async def test_entries_past_retention_are_swept_by_the_tick(client, fake, service):
    await seed(client, fake)
    await client.post("/v1/search", json={"user_id": "ana", "query": "old"})
    await service.retrievals.flush()
    long_ago = timeutil.to_db(timeutil.now() - timedelta(days=31))
    async with service.core.db.transaction() as conn:
        await conn.execute("UPDATE retrieval_log SET created_at = ?", (long_ago,))
    await client.post("/v1/search", json={"user_id": "ana", "query": "new"})
    await service.retrievals.flush()
    await service.tick()
    assert [e["query"] for e in await logged(client, service)] == ["new"]


async def test_nothing_is_logged_when_disabled(settings, fake):
    async with served(settings, enabled=False) as (app, client):
        await seed(client, fake)
        assert (await client.post("/v1/profile", json={"user_id": "ana", "q": "nurse"})).status_code == 200
        assert (await client.post("/v1/search", json={"user_id": "ana", "query": "nurse"})).status_code == 200
        assert await logged(client, app.state.service) == []


async def test_entries_are_written_in_the_background_and_on_shutdown(settings):
    async with served(settings, flush_seconds=0.05) as (_, client):
        await client.post("/v1/search", json={"user_id": "ana", "query": "soon"})
        for _ in range(100):
            items = (await client.get("/v1/users/ana/retrievals")).json()["items"]
            if items:
                break
            await asyncio.sleep(0.02)
        assert [e["query"] for e in items] == ["soon"]
    async with served(settings, flush_seconds=60) as (_, client):
        await client.post("/v1/search", json={"user_id": "ana", "query": "at shutdown"})
    async with served(settings, flush_seconds=60) as (_, client):
        items = (await client.get("/v1/users/ana/retrievals")).json()["items"]
    assert [e["query"] for e in items] == ["at shutdown", "soon"]


async def test_compatibility_routes_are_logged_through_the_service(client, fake, service):
    await seed(client, fake)
    found = await client.post("/v3/memories/search/", json={"query": "nurse", "filters": {"user_id": "ana"}})
    profile = await client.post("/v4/profile", json={"containerTag": "ana", "q": "Rust"})
    assert found.status_code == 200 and profile.status_code == 200
    newest, oldest = await logged(client, service)
    assert (newest["kind"], newest["query"], oldest["kind"], oldest["query"]) == ("profile", "Rust", "search", "nurse")
    assert [m["id"] for m in oldest["memories"]] == [m["id"] for m in found.json()["results"]]


async def test_mcp_recall_is_logged_through_the_service(app, client, fake, service):
    await seed(client, fake)
    async with Client(app.state.mcp) as mcp:
        answer = await mcp.call_tool("recall", {"user_id": "ana", "query": "nurse"})
    assert not answer.is_error
    [entry] = await logged(client, service)
    assert (entry["kind"], entry["query"], entry["actor"]) == ("search", "nurse", "mcp/local")
    assert entry["memories"] and {m["type"] for m in entry["memories"]} <= {"fact", "episode"}


async def test_a_database_away_is_logged_once_in_one_line_not_each_round(settings, monkeypatch, caplog):
    async def away(self, db) -> int:
        raise Unavailable("the database is locked by another process; try again")

    monkeypatch.setattr(RetrievalBuffer, "write", away)
    with caplog.at_level(logging.WARNING, logger="memory_server.retrieval_log"):
        async with served(settings, flush_seconds=0.01) as (_, client):
            await client.post("/v1/search", json={"user_id": "ana", "query": "while away"})
            await asyncio.sleep(0.3)  # some thirty rounds
            monkeypatch.undo()
    failures = [r for r in caplog.records if "could not write a batch" in r.getMessage()]
    assert len(failures) == 1 and not failures[0].exc_info
    assert "locked by another process" in failures[0].getMessage()
