"""Tenants and roles over MCP (streamable HTTP): every tool, two tenants, three roles, exact outcomes, no leaks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from memory_server import keys
from memory_server.store.sqlite import SqliteDatabase
from tests.mcp.scenarios import error, ok
from tests.servers import running_server, server_settings

SECRET = "User keeps bees named Zorblax"
ROLES = ("viewer", "editor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}


async def _make_keys(db_path) -> dict[tuple[str, str], str]:
    db = SqliteDatabase(db_path)
    await db.open()
    try:
        return {(t, r): (await keys.create(db, t, r)).key for t in ("A", "B") for r in ROLES}
    finally:
        await db.close()


@pytest.fixture(scope="module")
def world(portal, tmp_path_factory) -> Iterator[tuple[str, dict[tuple[str, str], str]]]:
    with (
        server_settings(tmp_path_factory.mktemp("mcp-isolation") / "data") as settings,
        running_server(settings) as url,
    ):
        yield url, portal.call(_make_keys, settings.db_path)


def a_fact(url: str, secret: str) -> str:
    r = httpx.post(f"{url}/v1/facts", json={"user_id": "ana", "content": SECRET}, headers={"X-API-Key": secret})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


async def _call(
    url: str, secret: str, tool: str, arguments: dict, headers: dict[str, str] | None = None
) -> tuple[dict, str]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}", **(headers or {})}) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp,
    ):
        result = await mcp.call_tool(tool, arguments)
        return result, json.dumps(result.model_dump(mode="json"))


# tool, minimum role, arguments ({fact} is a fresh fact of tenant A), outcome for tenant B when allowed
TOOLS = [
    ("remember", "editor", {"user_id": "ana", "fact": "User likes tea"}, "ok"),
    ("remember", "editor", {"user_id": "ana", "messages": [{"role": "user", "content": "I'm a pilot"}]}, "ok"),
    ("recall", "viewer", {"user_id": "ana", "query": "bees", "threshold": 0}, "empty"),
    ("get_profile", "viewer", {"user_id": "ana", "query": "bees"}, "empty"),
    ("forget", "editor", {"user_id": "ana", "fact_id": "{fact}"}, "not_found"),
    ("forget", "editor", {"user_id": "ana", "query": SECRET, "threshold": 0.9}, "empty"),
    ("list_changes", "viewer", {"user_id": "ana"}, "empty"),
    ("get_config", "admin", {}, "ok"),
    ("update_config", "admin", {"changes": {"dynamic_ttl_seconds": 7200}}, "ok"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tenant", ["A", "B"])
@pytest.mark.parametrize(
    ("tool", "needs", "arguments", "for_b"), TOOLS, ids=[f"{t[0]}-{i}" for i, t in enumerate(TOOLS)]
)
def test_isolation_matrix(portal, world, tenant, role, tool, needs, arguments, for_b):
    url, made = world
    fact_id = a_fact(url, made[("A", "admin")])
    filled = json.loads(json.dumps(arguments).replace("{fact}", fact_id))
    result, text = portal.call(_call, url, made[(tenant, role)], tool, filled)
    if RANK[role] < RANK[needs]:
        assert error(result)["code"] == "forbidden", text
    elif tenant == "A" or for_b in ("ok", "empty"):
        ok(result)
    else:
        assert error(result)["code"] == for_b, text
    if tenant == "B":
        assert "Zorblax" not in text
        if not result.is_error:
            assert fact_id not in text
        still = httpx.get(f"{url}/v1/facts/{fact_id}", headers={"X-API-Key": made[("A", "viewer")]})
        assert still.json()["status"] == "active"


def test_profile_resource_is_scoped_by_the_key(portal, world):
    url, made = world
    a_fact(url, made[("A", "admin")])

    async def read(secret: str) -> str:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as mcp,
        ):
            result = await mcp.read_resource("memory://profile/ana")
            return json.dumps(result.model_dump(mode="json"))

    assert "Zorblax" in portal.call(read, made[("A", "viewer")])
    assert "Zorblax" not in portal.call(read, made[("B", "admin")])


def test_tools_act_in_the_project_the_header_names(portal, world):
    url, made = world
    admin = {"X-API-Key": made[("A", "admin")]}
    r = httpx.post(f"{url}/v1/projects", json={"name": "mcp-shop"}, headers=admin)
    assert r.status_code == 201, r.text
    shop = {"X-Project-Id": str(r.json()["id"])}
    remembered = {"user_id": "bo", "fact": "User keeps goats named Pim"}
    ok(portal.call(_call, url, made[("A", "editor")], "remember", remembered, shop)[0])
    in_shop = ok(portal.call(_call, url, made[("A", "viewer")], "get_profile", {"user_id": "bo"}, shop)[0])
    assert "Pim" in json.dumps(in_shop)
    default = ok(portal.call(_call, url, made[("A", "viewer")], "get_profile", {"user_id": "bo"})[0])
    assert "Pim" not in json.dumps(default)
    # a project the key's tenant lacks: the session opens (clients would not show why it was refused), and every
    # tool says it
    other = portal.call(_call, url, made[("A", "viewer")], "get_profile", {"user_id": "bo"}, {"X-Project-Id": "99"})
    assert error(other[0]) == {"code": "not_found", "message": "X-Project-Id: no project 99", "field": "X-Project-Id"}
    assert "Pim" not in other[1]
