"""Property tests on the input models, through the HTTP API: any input gets a clear 4xx or a correct
store, never a 5xx and never a partial write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_server.api.app import create_app
from memory_server.config import LimitSettings, Settings
from tests.conftest import running

COUNTED = ("messages", "jobs", "facts", "changelog", "vector_ops")


class Harness:
    """The app and an ASGI client on an event loop of their own, so hypothesis can drive them."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(settings)
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://localhost")
        self._main = self.loop.create_task(self._serve())
        self.run(self._ready.wait())

    async def _serve(self) -> None:
        """Enter and leave the lifespan in one task, as anyio requires."""
        async with running(self.app), self.client:
            self._ready.set()
            await self._stop.wait()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def post(self, path: str, body: object) -> httpx.Response:
        raw = json.dumps(body, allow_nan=False).encode()
        return self.run(self.client.post(path, content=raw, headers={"content-type": "application/json"}))

    def counts(self) -> dict[str, int]:
        db = self.app.state.service.core.db

        async def count() -> dict[str, int]:
            return {t: (await db.fetchone(f"SELECT count(*) FROM {t}"))[0] for t in COUNTED}

        return self.run(count())

    def close(self) -> None:
        self._stop.set()
        self.run(self._main)
        self.loop.close()


@pytest.fixture
def harness(settings) -> Iterator[Harness]:
    h = Harness(settings.model_copy(update={"limits": LimitSettings(requests_per_minute=1_000_000)}))
    yield h
    h.close()


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=70), inner, max_size=4),
    max_leaves=30,
)
anything = st.text(max_size=300)  # any unicode, control characters included
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_error_shape(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"]


@PROPERTY
@given(
    user_id=anything,
    contents=st.lists(anything, min_size=0, max_size=3),
    role=st.sampled_from(["user", "assistant", "system", "tool", "robot", ""]),
    attributes=json_value,
    session_id=st.none() | anything,
)
def test_publish_stores_exactly_what_was_sent_or_nothing(harness, user_id, contents, role, attributes, session_id):
    before = harness.counts()
    body = {
        "user_id": user_id,
        "messages": [{"role": role, "content": c} for c in contents],
        "attributes": attributes,
        "session_id": session_id,
    }
    r = harness.post("/v1/interactions", body)
    after = harness.counts()
    if r.status_code >= 400:
        assert_error_shape(r)
        assert after == before
        return
    assert r.status_code in (200, 202), r.text
    job = r.json()
    assert job["user_id"] == user_id.strip()

    async def stored() -> list[tuple[str, str]]:
        rows = await harness.app.state.service.core.db.fetchall(
            "SELECT role, content FROM messages WHERE request_id = ? ORDER BY position", (job["request_id"],)
        )
        return [tuple(row) for row in rows]

    assert harness.run(stored()) == [(role, c.strip()) for c in contents]


@PROPERTY
@given(user_id=anything, content=anything, confidence=json_leaf, ttl=json_leaf, kind=json_leaf | st.just("dynamic"))
def test_explicit_fact_is_stored_verbatim_or_rejected_whole(harness, user_id, content, confidence, ttl, kind):
    before = harness.counts()
    r = harness.post(
        "/v1/facts",
        {"user_id": user_id, "content": content, "confidence": confidence, "ttl_seconds": ttl, "kind": kind},
    )
    after = harness.counts()
    if r.status_code >= 400:
        assert_error_shape(r)
        assert after == before
        return
    fact = r.json()
    assert fact["content"].casefold().rstrip(".!?;:, ") == content.strip().casefold().rstrip(".!?;:, ")
    assert fact["user_id"] == user_id.strip()


@PROPERTY
@given(
    user_id=anything,
    query=anything,
    top_k=json_leaf,
    threshold=json_leaf,
    attributes=json_value,
    since=json_leaf,
)
def test_reads_never_fail_on_odd_input(harness, user_id, query, top_k, threshold, attributes, since):
    for path, body in (
        (
            "/v1/search",
            {
                "user_id": user_id,
                "query": query,
                "top_k": top_k,
                "threshold": threshold,
                "attributes": attributes,
                "since": since,
            },
        ),
        ("/v1/profile", {"user_id": user_id, "q": query, "top_k": top_k, "max_tokens": top_k}),
        ("/v1/facts/delete", {"user_id": user_id, "query": query, "threshold": threshold, "top_k": top_k}),
    ):
        r = harness.post(path, body)
        if r.status_code >= 400:
            assert_error_shape(r)
        else:
            assert r.status_code == 200
