"""Bad input: a 4xx with one JSON error shape naming the field, and nothing stored."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import use_extractor
from tests.servers import child_env

OK_MESSAGE = {"role": "user", "content": "I'm a nurse"}


async def nothing_stored(service) -> bool:
    counts = [
        (await service.core.db.fetchone(f"SELECT count(*) FROM {table}"))[0] for table in ("messages", "jobs", "facts")
    ]
    return counts == [0, 0, 0]


def assert_error(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [OK_MESSAGE]}, "user_id"),
        ({"user_id": "", "messages": [OK_MESSAGE]}, "user_id"),
        ({"user_id": "   ", "messages": [OK_MESSAGE]}, "user_id"),
        ({"user_id": "a\x00b", "messages": [OK_MESSAGE]}, "user_id"),
        ({"user_id": "x" * 300, "messages": [OK_MESSAGE]}, "user_id"),
        ({"user_id": "ana", "messages": []}, "messages"),
        ({"user_id": "ana"}, "messages"),
        ({"user_id": "ana", "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"user_id": "ana", "messages": [{"role": "user", "content": ""}]}, "messages.0.content"),
        ({"user_id": "ana", "messages": [{"role": "user", "content": " \n\t "}]}, "messages.0.content"),
        ({"user_id": "ana", "messages": [{"role": "user"}]}, "messages.0.content"),
        ({"user_id": "ana", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"user_id": "ana", "messages": [{**OK_MESSAGE, "created_at": "yesterday"}]}, "messages.0.created_at"),
        ({"user_id": "ana", "messages": [OK_MESSAGE], "surprise": 1}, "surprise"),
        ({"user_id": "ana", "messages": [OK_MESSAGE], "attributes": [1, 2]}, "attributes"),
        ({"user_id": "ana", "messages": [OK_MESSAGE], "attributes": {"a": {"b": {"c": {"d": 1}}}}}, "attributes"),
        ({"user_id": "ana", "messages": [OK_MESSAGE], "wait": "perhaps"}, "wait"),
    ],
)
async def test_bad_interaction_is_422_naming_the_field_and_stores_nothing(client, service, body, field):
    r = await client.post("/v1/interactions", json=body)
    assert_error(r, 422, "invalid_input", field)
    assert field in r.json()["error"]["message"]
    assert await nothing_stored(service)


async def test_non_json_body_is_400(client, service):
    r = await client.post("/v1/interactions", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_json")
    assert await nothing_stored(service)


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b'{"user_id": "ana", "messages": [{"role": "user", "content": "caf\xe9"}]}', "application/json", "not UTF-8"),
        ('{"user_id": "café"}'.encode("latin-1"), "application/json; charset=latin-1", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deeply"),
        (b'{"user_id": "ana", "wait": ' + b"9" * 5000 + b"}", "application/json", "number is too long"),
    ],
)
async def test_a_body_json_cannot_read_is_400_saying_why(client, service, body, content_type, says):
    r = await client.post("/v1/interactions", content=body, headers={"content-type": content_type})
    assert_error(r, 400, "invalid_json")
    assert says in r.json()["error"]["message"]
    assert await nothing_stored(service)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_nan_or_infinity_in_a_number_field_is_422_asking_for_a_finite_number(client, number):
    r = await client.post(
        "/v1/search",
        content=f'{{"user_id": "ana", "query": "tea", "threshold": {number}}}',
        headers={"content-type": "application/json"},
    )
    assert_error(r, 422, "invalid_input", "threshold")
    assert r.json()["error"]["message"] == "threshold: Input should be a finite number"


async def test_body_that_is_not_an_object_is_422(client, service):
    r = await client.post("/v1/interactions", json=["user_id", "ana"])
    assert_error(r, 422, "invalid_input")
    assert await nothing_stored(service)


async def test_too_many_messages_is_413_and_stores_nothing(client, service):
    limit = service.core.settings.limits.max_messages
    r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [OK_MESSAGE] * (limit + 1)})
    assert_error(r, 413, "payload_too_large", "messages")
    assert await nothing_stored(service)


async def test_oversized_content_is_413_naming_the_message(client, service):
    limit = service.core.settings.limits.max_content_chars
    big = {"role": "user", "content": "a" * (limit + 1)}
    r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [OK_MESSAGE, big]})
    assert_error(r, 413, "payload_too_large", "messages.1.content")
    assert await nothing_stored(service)


async def test_oversized_body_is_rejected_before_parsing(client, service):
    limit = service.core.settings.limits.max_body_bytes
    r = await client.post("/v1/interactions", content=b"x" * (limit + 1), headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = await client.post("/v1/interactions", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    assert await nothing_stored(service)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/profile", {}, "user_id"),
        ("/v1/profile", {"user_id": "ana", "threshold": 1.5}, "threshold"),
        ("/v1/profile", {"user_id": "ana", "threshold": -0.1}, "threshold"),
        ("/v1/profile", {"user_id": "ana", "top_k": 0}, "top_k"),
        ("/v1/profile", {"user_id": "ana", "q": "x", "top_k": 10_000}, "top_k"),
        ("/v1/profile", {"user_id": "ana", "max_tokens": 0}, "max_tokens"),
        ("/v1/profile", {"user_id": "ana", "q": ""}, "q"),
        ("/v1/search", {"user_id": "ana"}, "query"),
        ("/v1/search", {"user_id": "ana", "query": "x", "kind": "eternal"}, "kind"),
        ("/v1/search", {"user_id": "ana", "query": "x", "top_k": 101}, "top_k"),
        ("/v1/search", {"user_id": "ana", "query": "x", "threshold": "high"}, "threshold"),
        ("/v1/search", {"user_id": "ana", "query": "x", "since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ("/v1/facts/delete", {"user_id": "ana", "query": "x", "threshold": 2}, "threshold"),
        ("/v1/facts", {"user_id": "ana", "content": "x", "kind": "forever"}, "kind"),
        ("/v1/facts", {"user_id": "ana", "content": "   "}, "content"),
        ("/v1/facts", {"user_id": "ana", "content": "x", "confidence": 7}, "confidence"),
    ],
)
async def test_bad_read_and_delete_input_is_422_naming_the_field(client, path, body, field):
    assert_error(await client.post(path, json=body), 422, "invalid_input", field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"status": "zombie"}, "status"),
        ({"cursor": "abc"}, "cursor"),
    ],
)
async def test_bad_list_parameters_are_422(client, params, field):
    assert_error(await client.get("/v1/users/ana/facts", params=params), 422, "invalid_input", field)


async def test_bad_config_is_rejected_and_version_unchanged(client):
    before = (await client.get("/v1/config")).json()
    for body, field in [
        ({"dynamic_ttl_seconds": 5}, "dynamic_ttl_seconds"),
        ({"duplicate_threshold": "very"}, "duplicate_threshold"),
        ({"extractor": "crystal-ball"}, "extractor"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"roles": ["narrator"]}, "roles.0"),
    ]:
        assert_error(await client.put("/v1/config", json=body), 422, "invalid_input", field)
    assert (await client.get("/v1/config")).json()["version"] == before["version"]


async def test_config_changes_are_versioned(client):
    await use_extractor(client, "fake")
    r = await client.put("/v1/config", json={"dynamic_ttl_seconds": 7200})
    assert r.json()["version"] == 2
    assert r.json()["config"]["extractor"] == "fake"  # left out, so kept
    history = (await client.get("/v1/config/history")).json()
    assert [v["version"] for v in history] == [2, 1]
    assert history[0]["config"]["dynamic_ttl_seconds"] == 7200
    for unchanged in ({}, {"dynamic_ttl_seconds": 7200}):  # nothing to change: no new version
        r = await client.put("/v1/config", json=unchanged)
        assert (r.status_code, r.json()["version"]) == (200, 2)
    assert [v["version"] for v in (await client.get("/v1/config/history")).json()] == [2, 1]


async def test_unknown_ids_are_404_with_the_error_shape(client):
    assert_error(await client.get("/v1/facts/nope"), 404, "not_found")
    assert_error(await client.get("/v1/requests/nope"), 404, "not_found")
    assert_error(await client.get("/v1/no/such/route"), 404, "not_found")
    assert_error(await client.put("/v1/profile", json={}), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/users/%20%20/facts"),
        ("GET", "/v1/users/a%01b/facts"),
        ("DELETE", "/v1/users/%20"),
        ("POST", "/v1/users/%20/reextract"),
        ("DELETE", "/v1/facts/abc?user_id=%20"),
    ],
)
async def test_bad_user_id_in_path_or_query_is_422_naming_it(client, method, path):
    assert_error(await client.request(method, path), 422, "invalid_input", "user_id")


async def test_an_embedder_failure_is_a_503_naming_the_embedder_over_http_and_mcp(client, service, monkeypatch):
    from mcp import Client

    from memory_server.index.embedders import EmbedderError

    async def down(texts):
        raise EmbedderError("embedding model 'openai/x' failed: connection refused")

    monkeypatch.setattr(service.core.embedder, "embed", down)
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"})
    assert_error(r, 503, "embedder_unavailable")
    assert "connection refused" in r.json()["error"]["message"]
    assert await nothing_stored(service)
    async with Client(client._transport.app.state.mcp) as mcp:  # the same words over MCP
        result = await mcp.call_tool("remember", {"user_id": "ana", "fact": "User keeps bees"})
    assert result.is_error
    assert result.structured_content["error"] == r.json()["error"]
    # a search waits for the query's vector in its facts part and its episodes part alike: one 503, not a 500
    for path, body in (("/v1/search", {"query": "bees"}), ("/v1/profile", {"q": "bees"})):
        r = await client.post(path, json={"user_id": "ana", **body})
        assert_error(r, 503, "embedder_unavailable")


async def test_a_model_that_fails_while_reconciling_a_stated_fact_is_a_502(client, service, monkeypatch):
    from extractors.base import ExtractionError
    from memory_server import extraction

    class Broken:
        sequential = False
        asks_model = True

        async def decide(self, items, usage):
            raise ExtractionError("openai/gpt-x: no answer after 4 calls: 503 Service Unavailable")

    await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"})  # a neighbour to compare
    monkeypatch.setattr(extraction, "reconciler_for", lambda settings, config: Broken())
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps wasps"})
    assert_error(r, 502, "model_unavailable")
    assert "no answer after 4 calls" in r.json()["error"]["message"]
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert [f["content"] for f in facts] == ["User keeps bees"]


def test_a_bad_embedder_setting_stops_start_up_in_one_line(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text("embedder:\n  model: openai/text-embedding-3-small\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "memory.sqlite3").touch()  # a database to check (an empty SQLite file is one)
    result = subprocess.run(
        [sys.executable, "-m", "memory_server", "check", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: embedder.model: only used by embedders that take it, not onnx-minilm (set embedder.provider)"
    ]


async def test_a_body_sent_without_a_json_content_type_says_how_to_send_it(client, service):
    r = await client.post("/v1/facts", content=b'{"user_id": "ana", "content": "x"}', headers={"content-type": ""})
    assert_error(r, 422, "invalid_input", None)
    assert (
        "request body must be a JSON object (sent with content-type: application/json)" in r.json()["error"]["message"]
    )
    assert await nothing_stored(service)


def test_a_503_says_when_to_try_again_like_a_429():
    from memory_server.api.errors import service_error_response
    from memory_server.errors import Unavailable

    response = service_error_response(Unavailable("the database … is unreachable; try again"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")


def test_an_llm_extractor_without_a_model_stops_start_up_in_one_line(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text("extraction:\n  extractor: llm\n")
    result = subprocess.run(
        [sys.executable, "-m", "memory_server", "serve", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: extraction.model: the llm extractor needs a model: set `model` here or llm.model in the settings"
    ]


@pytest.mark.sqlite
async def test_a_write_while_another_process_holds_the_database_is_a_503_saying_it_is_locked(client, service):
    db = service.core.db
    async with db.transaction() as conn:
        await conn.execute("PRAGMA busy_timeout=200")  # the writer gives up sooner than its 5 s
    holder = sqlite3.connect(db.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [OK_MESSAGE]})
        assert_error(r, 503, "unavailable")
        assert r.headers["Retry-After"] == "5"
        assert r.json()["error"]["message"] == "the database is locked by another process; try again"  # no path
        assert await nothing_stored(service)
        holder.execute("ROLLBACK")
        r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [OK_MESSAGE]})
        assert r.status_code == 202, r.text
    finally:
        holder.close()


@pytest.mark.sqlite
async def test_a_write_on_a_full_disk_is_a_503_saying_so_and_leaves_nothing_half_written(client, service):
    db = service.core.db
    async with db.transaction() as conn:  # the file may not grow by a page: SQLite answers SQLITE_FULL
        pages = (await conn.execute_fetchall("PRAGMA page_count"))[0][0]
        await conn.execute(f"PRAGMA max_page_count={pages}")
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees. " * 400})
    assert_error(r, 503, "unavailable")
    assert r.headers["Retry-After"] == "5"
    assert "the disk is full" in r.json()["error"]["message"]
    for table in ("facts", "fact_vectors", "vector_ops", "changelog"):
        assert (await db.fetchone(f"SELECT count(*) FROM {table}"))[0] == 0, table
