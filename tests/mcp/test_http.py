"""MCP over streamable HTTP at /mcp, on the same port as the HTTP API, with the SDK's HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from memory_server import keys
from memory_server.store.sqlite import SqliteDatabase
from tests.mcp.scenarios import (
    bad_arguments_fail_clearly,
    error,
    every_tool_round_trip,
    ok,
    retried_remember_writes_once,
)
from tests.servers import running_server, server_settings


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    with server_settings(tmp_path_factory.mktemp("http") / "data") as settings, running_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def mcp(portal, url) -> Iterator[Client]:
    with portal.wrap_async_context_manager(Client(f"{url}/mcp")) as client:
        yield client


@pytest.fixture
def http(url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        yield client


def test_every_tool_round_trip(portal, mcp):
    portal.call(every_tool_round_trip, mcp, {"user_id": "ana"}, "ana")


def test_retried_remember_writes_once(portal, mcp):
    portal.call(retried_remember_writes_once, mcp, {"user_id": "bea"})


def test_bad_arguments_fail_clearly(portal, mcp, http):
    portal.call(bad_arguments_fail_clearly, mcp, {"user_id": "cem"})
    assert http.get("/v1/users/cem/facts", params={"status": "all"}).json()["items"] == []


def test_a_fact_remembered_over_mcp_is_visible_over_http_and_the_reverse(portal, mcp, http):
    remembered = ok(portal.call(mcp.call_tool, "remember", {"user_id": "dan", "fact": "User keeps bees"}))
    [fact] = http.get("/v1/users/dan/facts").json()["items"]
    assert (fact["id"], fact["content"]) == (remembered["added"][0]["id"], "User keeps bees")

    body = {"user_id": "dan", "messages": [{"role": "user", "content": "I'm a pilot"}], "wait": True}
    r = http.post("/v1/interactions", json=body)
    assert r.status_code == 200, r.text
    found = ok(portal.call(mcp.call_tool, "recall", {"user_id": "dan", "query": "pilot", "types": ["facts"]}))
    assert [x["content"] for x in found["results"]] == ["User is a pilot"]
    said = ok(portal.call(mcp.call_tool, "recall", {"user_id": "dan", "query": "pilot", "types": ["episodes"]}))
    assert [(x["type"], x["content"]) for x in said["results"]] == [("episode", "I'm a pilot")]


async def _make_keys(db_path) -> dict[str, tuple[str, str]]:
    """Keys made in SQLite beside the running server, as `memory-server keys create` does: name -> (id, secret)."""
    db = SqliteDatabase(db_path)
    await db.open()
    try:
        wanted = [("viewer", "default", "viewer"), ("editor", "default", "editor"), ("other", "B", "admin")]
        made = {name: await keys.create(db, tenant, role) for name, tenant, role in wanted}
    finally:
        await db.close()
    return {name: (key.id, key.key) for name, key in made.items()}


async def _as(
    url: str, secret: str | None, tool: str, arguments: dict, extra: dict[str, str] | None = None
) -> CallToolResult:
    headers = ({"Authorization": f"Bearer {secret}"} if secret else {}) | (extra or {})
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp,
    ):
        return await mcp.call_tool(tool, arguments)


def _initialize_status(url: str, secret: str | None) -> tuple[int, str | None]:
    """What a bare MCP initialize gets: keys are checked before any session exists."""
    headers = {"Accept": "application/json, text/event-stream"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    r = httpx.post(f"{url}/mcp", json=body, headers=headers)
    code = r.json().get("error", {}).get("code") if r.headers.get("content-type") == "application/json" else None
    return r.status_code, code


def test_the_api_key_in_the_request_decides_tenant_and_role(portal, tmp_path):
    with server_settings(tmp_path / "data") as settings, running_server(settings) as url:
        made = portal.call(_make_keys, settings.db_path)
        call = partial(portal.call, _as, url)
        bees = {"user_id": "ana", "fact": "User keeps bees"}

        for secret in (None, "not-a-key"):
            assert _initialize_status(url, secret) == (401, "unauthorized")
            with pytest.raises(BaseException, match="rror"):  # the SDK client cannot even open a session
                call(secret, "recall", {"user_id": "ana", "query": "bees"})
        assert error(call(made["viewer"][1], "remember", bees))["code"] == "forbidden"
        assert ok(call(made["editor"][1], "remember", bees))["added"][0]["content"] == "User keeps bees"
        assert error(call(made["editor"][1], "get_config", {}))["code"] == "forbidden"
        found = ok(call(made["viewer"][1], "recall", {"user_id": "ana", "query": "bees"}))["results"]
        assert [r["content"] for r in found] == ["User keeps bees"]
        assert ok(call(made["other"][1], "recall", {"user_id": "ana", "query": "bees"}))["results"] == []
        [change] = ok(call(made["viewer"][1], "list_changes", {"user_id": "ana"}))["items"]
        assert change["actor"] == f"mcp/key:{made['editor'][0]}"
        for project, code in (("99", "not_found"), ("abc", "invalid_input")):  # said by the tool, not hidden
            asked = {"user_id": "ana", "query": "bees"}
            wrong = error(call(made["viewer"][1], "recall", asked, {"X-Project-Id": project}))
            assert (wrong["code"], wrong["field"]) == (code, "X-Project-Id"), wrong
