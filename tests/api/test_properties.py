"""Property tests on the input models, through the HTTP API: any input gets a clear 4xx or a correct
store, never a 5xx and never a partial write."""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_server import timeutil
from memory_server.api.app import create_app
from memory_server.config import LimitSettings, Settings
from memory_server.context import Scope
from memory_server.ids import ID_PUNCTUATION, is_id_character
from tests.conftest import running

COUNTED = ("messages", "jobs", "facts", "changelog", "vector_ops")
DRAINED = "vector_ops"  # the vector outbox: emptied in the background (a worker's idle tick) at any moment
PROJECT = "I'm currently working on a migration project"  # a dynamic fact for the rules extractor


class Harness:
    """The app and an ASGI client on an event loop of their own, so hypothesis can drive them."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(settings)
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.scope = Scope(settings.tenant, "test")
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
        """JSON as a client writes it: lone surrogates travel as `\\ud800` escapes."""
        raw = json.dumps(body, allow_nan=False).encode()
        return self.run(self.client.post(path, content=raw, headers={"content-type": "application/json"}))

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return self.run(self.client.request(method, path, **kwargs))

    def finished(self, request_id: str) -> dict:
        for _ in range(500):
            job = self.request("GET", f"/v1/requests/{request_id}").json()
            if job["status"] in ("done", "failed"):
                return job
            self.run(asyncio.sleep(0.02))
        return job

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


def assert_nothing_written(before: dict[str, int], after: dict[str, int]) -> None:
    """A refused request wrote no row: every count is unchanged, but the outbox may have been drained meanwhile."""
    assert {t: n for t, n in after.items() if t != DRAINED} == {t: n for t, n in before.items() if t != DRAINED}
    assert after[DRAINED] <= before[DRAINED]


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
INT64_EDGES = [0, -1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64]
integers = st.sampled_from(INT64_EDGES) | st.integers(min_value=-(10**30), max_value=10**30)
text_with_surrogates = st.text(st.characters() | SURROGATES, max_size=50)
json_leaf = (
    st.none()
    | st.booleans()
    | integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | text_with_surrogates
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=70), inner, max_size=4),
    max_leaves=30,
)
anything = st.text(max_size=300)  # any unicode, control characters included
printable_ids = st.text(string.printable, max_size=12)  # every printable ASCII character, most of them refused
id_alphabet = st.characters(categories=["L", "M", "N"]).filter(is_id_character) | st.sampled_from(ID_PUNCTUATION)
valid_ids = st.text(id_alphabet, min_size=1, max_size=24).filter(lambda s: s.strip(".") != "")
offsets = st.sampled_from(["", "Z", "+00:00", "+00:01", "-00:01", "+14:00", "-14:00", "+23:59", "-23:59"])
timestamps = st.builds(
    lambda year, time, offset: f"{year:04d}-{'01-01' if year < 5000 else '12-31'}T{time}{offset}",
    st.sampled_from([1, 2, 999, 1000, 1970, 2026, 9998, 9999]) | st.integers(1, 9999),
    st.sampled_from(["00:00:00", "00:30:00", "23:59:59.999999", "12:00:00.5"]),
    offsets,
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_error_shape(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"]


def sent_time(value: str) -> datetime:
    """The instant a client meant: naive times are UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@PROPERTY
@given(
    user_id=anything | printable_ids | valid_ids,
    contents=st.lists(anything | text_with_surrogates, min_size=0, max_size=3),
    role=st.sampled_from(["user", "assistant", "system", "tool", "robot", ""]),
    attributes=json_value,
    session_id=st.none() | anything | printable_ids,
    created_at=st.none() | timestamps,
)
def test_publish_stores_exactly_what_was_sent_or_nothing(
    harness, user_id, contents, role, attributes, session_id, created_at
):
    before = harness.counts()
    body = {
        "user_id": user_id,
        "messages": [{"role": role, "content": c, "created_at": created_at} for c in contents],
        "attributes": attributes,
        "session_id": session_id,
        "wait": True,
    }
    r = harness.post("/v1/interactions", body)
    after = harness.counts()
    if r.status_code >= 400:
        assert_error_shape(r)
        assert_nothing_written(before, after)
        return
    assert r.status_code in (200, 202), r.text
    job = r.json()
    assert job["user_id"] == user_id.strip()
    assert job["status"] == "done", job

    async def stored() -> list[tuple[str, str, datetime]]:
        rows = await harness.app.state.service.core.db.fetchall(
            "SELECT role, content, created_at FROM messages WHERE request_id = ? ORDER BY position",
            (job["request_id"],),
        )
        return [(role, content, timeutil.from_db(at)) for role, content, at in rows]

    messages = harness.run(stored())
    assert [(r, c) for r, c, _ in messages] == [(role, c.strip()) for c in contents]
    if created_at is not None:
        assert {at for _, _, at in messages} == {sent_time(created_at)}


@PROPERTY
@given(
    user_id=anything | printable_ids,
    content=anything | text_with_surrogates,
    confidence=json_leaf,
    ttl=json_leaf,
    kind=json_leaf | st.just("dynamic"),
    attributes=json_value,
)
def test_explicit_fact_is_stored_verbatim_or_rejected_whole(
    harness, user_id, content, confidence, ttl, kind, attributes
):
    before = harness.counts()
    r = harness.post(
        "/v1/facts",
        {
            "user_id": user_id,
            "content": content,
            "confidence": confidence,
            "ttl_seconds": ttl,
            "kind": kind,
            "attributes": attributes,
        },
    )
    after = harness.counts()
    if r.status_code >= 400:
        assert_error_shape(r)
        assert_nothing_written(before, after)
        return
    fact = r.json()
    assert fact["attributes"] == attributes
    assert fact["content"].casefold().rstrip(".!?;:, ") == content.strip().casefold().rstrip(".!?;:, ")
    assert fact["user_id"] == user_id.strip()


@PROPERTY
@given(
    user_id=anything | printable_ids,
    query=anything | text_with_surrogates,
    top_k=json_leaf,
    threshold=json_leaf,
    attributes=json_value,
    since=json_leaf | timestamps,
    until=st.none() | timestamps,
)
def test_reads_never_fail_on_odd_input(harness, user_id, query, top_k, threshold, attributes, since, until):
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
                "until": until,
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


@PROPERTY
@given(
    user_id=valid_ids | printable_ids,
    limit=st.none() | integers,
    cursor=st.none() | integers.map(str) | anything,
    since=st.none() | timestamps | anything,
)
def test_pages_never_fail_on_odd_parameters(harness, user_id, limit, cursor, since):
    params = {k: v for k, v in {"limit": limit, "cursor": cursor, "since": since}.items() if v is not None}
    for path, query in (
        (f"/v1/users/{quote(user_id, safe='')}/facts", {k: v for k, v in params.items() if k != "since"}),
        ("/v1/changelog", {**params, "user_id": user_id}),
    ):
        r = harness.request("GET", path, params=query)
        if r.status_code >= 400:
            assert_error_shape(r)
        else:
            assert r.status_code == 200, r.text


@settings(PROPERTY, max_examples=25)
@given(user_id=valid_ids)
def test_every_valid_id_is_published_listed_reextracted_and_purged(harness, user_id):
    path = f"/v1/users/{quote(user_id, safe='').replace('.', '%2E')}"
    body = {"user_id": user_id, "messages": [{"role": "user", "content": "I'm a nurse"}], "wait": True}
    job = harness.post("/v1/interactions", body).json()
    assert (job["user_id"], job["status"]) == (user_id, "done"), job
    facts = harness.request("GET", f"{path}/facts").json()["items"]
    assert [(f["user_id"], f["content"]) for f in facts] == [(user_id, "User is a nurse")]
    again = harness.request("POST", f"{path}/reextract")
    assert again.status_code == 202, again.text
    assert harness.finished(again.json()["request_id"])["status"] == "done"
    purged = harness.request("DELETE", path)
    assert (purged.status_code, purged.json()["user_id"]) == (200, user_id)
    assert harness.request("GET", f"{path}/facts").json()["items"] == []


@PROPERTY
@given(user_id=valid_ids, attributes=json_value, created_at=st.none() | timestamps, ttl=integers)
def test_odd_attributes_dates_and_ttls_are_refused_whole_or_stored_and_extracted(
    harness, user_id, attributes, created_at, ttl
):
    """A valid envelope around one odd part, so that each class of odd input reaches the store and the jobs."""
    config = harness.request("PUT", "/v1/config", json={"dynamic_ttl_seconds": ttl})
    if config.status_code >= 400:
        assert_error_shape(config)
    path = f"/v1/users/{quote(user_id, safe='').replace('.', '%2E')}"
    assert harness.request("DELETE", path).status_code in (200, 404)  # hypothesis may draw the same id again

    before = harness.counts()
    fact = harness.post("/v1/facts", {"user_id": user_id, "content": "User likes tea", "attributes": attributes})
    if fact.status_code >= 400:
        assert_error_shape(fact)
        assert_nothing_written(before, harness.counts())
    else:
        assert fact.status_code == 201 and fact.json()["attributes"] == attributes, fact.text

    before = harness.counts()
    messages = [{"role": "user", "content": c, "created_at": created_at} for c in (PROJECT, "I'm a nurse")]
    body = {"user_id": user_id, "messages": messages, "attributes": attributes, "wait": True}
    r = harness.post("/v1/interactions", body)
    if r.status_code >= 400:
        assert_error_shape(r)
        assert_nothing_written(before, harness.counts())
        return
    assert r.json()["status"] == "done", r.text
    export = harness.run(harness.app.state.service.export_user(harness.scope, user_id))
    if created_at is not None:
        assert {m.created_at for m in export.messages} == {sent_time(created_at)}
    again = harness.request("POST", f"{path}/reextract")
    assert harness.finished(again.json()["request_id"])["status"] == "done"
