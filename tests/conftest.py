from __future__ import annotations

import asyncio
import importlib
import os
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from memory_server.api.app import create_app
from memory_server.config import Settings, WorkerSettings
from memory_server.context import Scope
from memory_server.service import MemoryService
from memory_server.store import indexed as indexedsql
from tests import postgres
from tests.fakes import FAKE, QueueExtractor
from tests.llm_server import ScriptedLLM


@pytest.fixture
def storage_url(monkeypatch) -> Iterator[str | None]:
    """None on SQLite; with MEMORY_SERVER_TEST_POSTGRES, a fresh database, also named in the environment so every
    Settings the test makes (and every server it starts) uses it."""
    for name in list(os.environ):
        if name.startswith("MEMORY_SERVER_") and name != "MEMORY_SERVER_TEST_POSTGRES":
            monkeypatch.delenv(name)
    if postgres.ADMIN_URL is None:
        yield None
        return
    with postgres.fresh_database() as url:
        monkeypatch.setenv("MEMORY_SERVER_STORAGE__URL", url)
        yield url


@pytest.fixture
def settings(tmp_path, storage_url) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        workers=WorkerSettings(poll_seconds=0.05, retry_backoff_seconds=0.01, max_attempts=2, wait_timeout_seconds=20),
    )


def pytest_collection_modifyitems(config, items) -> None:
    if postgres.ADMIN_URL is not None:
        skip = pytest.mark.skip(reason="a data directory is not a whole deployment on PostgreSQL")
        for item in items:
            if "sqlite" in item.keywords:
                item.add_marker(skip)


def pytest_sessionstart(session) -> None:
    if postgres.ADMIN_URL is not None:
        postgres.make_template()


def pytest_sessionfinish(session, exitstatus) -> None:
    if postgres.ADMIN_URL is not None:
        postgres.drop_template()


@pytest.fixture
def llm(monkeypatch) -> Iterator[ScriptedLLM]:
    """A scripted OpenAI-compatible chat server on 127.0.0.1, reached directly (not through a proxy)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def fake() -> QueueExtractor:
    FAKE.replies.clear()
    FAKE.calls.clear()
    return FAKE


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan in a task of its own: anyio needs it entered and left in one task, and
    pytest-asyncio may set a fixture up and tear it down in different ones."""
    ready, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            ready.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error
    try:
        yield app
    finally:
        stop.set()
        await task


@pytest.fixture
async def app(settings):
    async with running(create_app(settings)) as started:
        yield started


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        yield c


@pytest.fixture
async def service(app) -> MemoryService:
    return app.state.service


@pytest.fixture
def scope(settings) -> Scope:
    return Scope(settings.tenant, "test")


def install_distribution(
    site: Path, monkeypatch: pytest.MonkeyPatch, dist: str, package: str, source: str, entry_points: str
) -> None:
    """Lay out a distribution `dist` with one module `package` (`source`) and its `entry_points.txt` in `site`,
    as pip would, and put `site` on sys.path (the caller drops the module from sys.modules afterwards)."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


async def use_extractor(client: httpx.AsyncClient, name: str) -> None:
    r = await client.put("/v1/config", json={"extractor": name})
    assert r.status_code == 200, r.text


async def publish(client: httpx.AsyncClient, user_id: str, *texts: str, wait: bool = True, **extra) -> dict:
    body = {"user_id": user_id, "messages": [{"role": "user", "content": t} for t in texts], "wait": wait, **extra}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code in (200, 202), r.text
    return r.json()


async def until_finished(client: httpx.AsyncClient, *request_ids: str, tries: int = 300) -> list[dict]:
    """Poll GET /v1/requests/{id} until every request is done or failed (or tries run out)."""
    for _ in range(tries):
        jobs = [(await client.get(f"/v1/requests/{rid}")).json() for rid in request_ids]
        if all(j["status"] in ("done", "failed") for j in jobs):
            break
        await asyncio.sleep(0.02)
    return jobs


async def indexed(service: MemoryService, tenant_id: str, user_id: str | None = None) -> set[str]:
    """Ids the vector index holds for a tenant (and user), read through its public scan."""
    found, offset = set(), 0
    while page := await service.core.index.scan(offset, 1000):
        offset += len(page)
        found |= {e.id for e in page if e.tenant_id == tenant_id and user_id in (None, e.user_id)}
    return found


async def index_users(service: MemoryService, tenant_id: str, *user_ids: str) -> None:
    """Put users' facts and episodes into the vector index, as the first search finding them too large to score
    exactly does, and fill them (the index holds only such users)."""
    for user_id in user_ids:
        for family in ("facts", "episodes"):
            await indexedsql.serves(service.core.db, tenant_id, user_id, family)
    await service.core.vectors.flush()
