"""The MCP tools in process, through the SDK's own client (`Client(server)`) and the server the app mounts."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from memory_server.client import AsyncMemoryClient
from memory_server.context import Scope
from memory_server.mcp.access import Caller, fixed
from memory_server.mcp.remote import RemoteMemory
from memory_server.mcp.server import McpState, create_server
from memory_server.schemas import FactIn
from tests.api.test_errors import nothing_stored
from tests.mcp.scenarios import (
    BAD,
    Bad,
    bad_arguments_fail_clearly,
    error,
    every_tool_round_trip,
    forgetting_a_fact_takes_the_messages_it_came_from,
    ok,
    retried_remember_writes_once,
    say,
)

ANA = {"user_id": "ana"}


def connect(app) -> Client:
    """A client of the server the app mounts at /mcp. (Used inline: the SDK client cannot live in an async
    fixture, whose teardown runs in another task than its set-up.)"""
    return Client(app.state.mcp)


def serving(service, caller: Caller) -> Client:
    """A client of a server over the app's service, as `caller`."""
    return Client(create_server(lambda: McpState(service, fixed(caller)), user_id=caller.user_id))


async def test_tools_are_listed_with_descriptions_and_input_schemas(app):
    async with connect(app) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(tools) == {
            "remember",
            "recall",
            "get_profile",
            "profile_sections",
            "forget",
            "list_changes",
            "get_config",
            "update_config",
        }
        for tool in tools.values():
            assert len(tool.description) > 40, tool.name
        recall = tools["recall"].input_schema
        assert recall["required"] == ["query"]
        assert recall["properties"]["threshold"]["anyOf"][0] == {"maximum": 1, "minimum": 0, "type": "number"}
        assert "dynamic_ttl_seconds" in tools["update_config"].description
        assert tools["recall"].annotations.read_only_hint and tools["forget"].annotations.destructive_hint
        [template] = (await mcp.list_resource_templates()).resource_templates
        assert template.uri_template == "memory://profile/{user_id}"


async def test_every_tool_round_trip(app):
    async with connect(app) as mcp:
        await every_tool_round_trip(mcp, ANA, "ana")


async def test_forgetting_a_fact_takes_the_messages_it_came_from(app):
    async with connect(app) as mcp:
        await forgetting_a_fact_takes_the_messages_it_came_from(mcp, ANA)


async def test_retried_remember_writes_once(app):
    async with connect(app) as mcp:
        await retried_remember_writes_once(mcp, ANA)


async def test_bad_arguments_fail_clearly_and_write_nothing(app, service):
    async with connect(app) as mcp:
        await bad_arguments_fail_clearly(mcp, ANA)
        assert await nothing_stored(service)


def _http_twin(case: Bad) -> tuple[str, str, dict]:
    """The HTTP request that carries the same bad input as an MCP call."""
    args = {**ANA, **case.arguments}
    if case.tool == "remember":
        if "fact" in args:
            args["content"] = args.pop("fact")
            return "POST", "/v1/facts", {"json": args}
        return "POST", "/v1/interactions", {"json": args}
    if case.tool == "forget":
        if "fact_id" in args:
            return "DELETE", f"/v1/facts/{args['fact_id']}", {}
        if "message_id" in args:
            return "DELETE", f"/v1/episodes/{args['message_id']}", {}
        return "POST", "/v1/facts/delete", {"json": args}
    if case.tool == "get_profile":
        return "POST", "/v1/profile", {"json": args}
    if case.tool == "recall":
        return "POST", "/v1/search", {"json": args}
    return "GET", "/v1/changelog", {"params": args}


@pytest.mark.parametrize("case", [c for c in BAD if c.http], ids=lambda c: f"{c.tool}-{c.field}")
async def test_a_tool_error_carries_the_http_api_message(app, client, service, case):
    async with connect(app) as mcp:
        method, path, kwargs = _http_twin(case)
        http = (await client.request(method, path, **kwargs)).json()["error"]
        assert error(await mcp.call_tool(case.tool, {**ANA, **case.arguments})) == http
        assert await nothing_stored(service)


async def test_a_server_for_one_user_cannot_reach_another(service, scope):
    bobs = (await service.add_fact(scope, FactIn(user_id="bob", content="User keeps snakes"))).fact
    async with serving(service, Caller(Scope(scope.tenant_id, "mcp"), "ana")) as mcp:
        assert "'ana'" in mcp.instructions
        ok(await mcp.call_tool("remember", {"fact": "User keeps bees"}))
        for tool, args in [
            ("recall", {"query": "snakes", "user_id": "bob"}),
            ("remember", {"fact": "User is evil", "user_id": "bob"}),
            ("forget", {"query": "snakes", "user_id": "bob"}),
            ("list_changes", {"user_id": "bob"}),
        ]:
            body = error(await mcp.call_tool(tool, args))
            assert (body["code"], body["field"]) == ("forbidden", "user_id")
            assert body["message"] == "user_id: this connection serves user 'ana' only; leave user_id out"
        assert error(await mcp.call_tool("forget", {"fact_id": bobs.id})) == {
            "code": "not_found",
            "message": f"fact_id: no fact {bobs.id}",
            "field": "fact_id",
        }
        assert [r["content"] for r in ok(await mcp.call_tool("recall", {"query": "keeps"}))["results"]] == [
            "User keeps bees"
        ]
        with pytest.raises(MCPError, match="serves user 'ana' only"):
            await mcp.read_resource("memory://profile/bob")
    assert (await service.fact(scope, bobs.id)).status == "active"


async def test_a_multi_user_server_needs_the_user_named(app):
    async with connect(app) as mcp:
        body = error(await mcp.call_tool("recall", {"query": "bees"}))
        assert body["field"] == "user_id"
        assert body["message"] == "user_id: field required (name the user whose memory this is)"


async def test_roles_come_from_the_scope_and_the_service_checks_them(service, scope):
    async with serving(service, Caller(Scope(scope.tenant_id, "mcp", "viewer"))) as mcp:
        assert ok(await mcp.call_tool("recall", {**ANA, "query": "bees"}))["results"] == []
        for tool, args in [
            ("get_config", {}),
            ("update_config", {"changes": {"dynamic_ttl_seconds": 3600}}),
            ("remember", {**ANA, "messages": say("I'm a nurse")}),
        ]:
            assert error(await mcp.call_tool(tool, args))["code"] == "forbidden", tool
    assert await nothing_stored(service)
    assert (await service.config(scope)).version == 0


async def test_memory_written_by_mcp_is_stored_with_the_mcp_actor(app, client):
    async with connect(app) as mcp:
        ok(await mcp.call_tool("remember", {**ANA, "fact": "User keeps bees"}))
        [change] = (await client.get("/v1/changelog", params=ANA)).json()["items"]
        assert change["actor"] == "mcp/local"


async def test_an_unreachable_remote_server_is_a_clear_tool_error(scope):
    async with AsyncMemoryClient("http://127.0.0.1:9", timeout=2) as http:
        server = create_server(lambda: McpState(RemoteMemory(http), fixed(Caller(scope, "ana"))), user_id="ana")
        async with Client(server) as mcp:
            body = error(await mcp.call_tool("recall", {"query": "bees"}))
    assert body["code"] == "unavailable"
    assert body["message"].startswith("cannot reach the memory server at http://127.0.0.1:9")
