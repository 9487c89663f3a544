"""`memory-server mcp --url`: the stdio tools proxied to a running server's HTTP API, which owns the data."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mcp import Client

from tests.mcp.scenarios import (
    bad_arguments_fail_clearly,
    error,
    every_tool_round_trip,
    forgetting_a_fact_takes_the_messages_it_came_from,
    ok,
    retried_remember_writes_once,
)
from tests.mcp.stdio import command
from tests.servers import running_server, server_settings


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    with server_settings(tmp_path_factory.mktemp("remote") / "data") as settings, running_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def mcp(portal, url) -> Iterator[Client]:
    with portal.wrap_async_context_manager(Client(command("--url", url, "--user", "carol"))) as client:
        yield client


def test_forgetting_a_fact_takes_the_messages_it_came_from_through_the_http_api(portal, mcp):
    portal.call(forgetting_a_fact_takes_the_messages_it_came_from, mcp, {})


def test_every_tool_round_trip_through_the_http_api(portal, mcp):
    portal.call(every_tool_round_trip, mcp, {}, "carol")


def test_retried_remember_writes_once(portal, mcp):
    portal.call(retried_remember_writes_once, mcp, {})


def test_the_server_errors_come_back_as_the_same_tool_errors(portal, mcp):
    portal.call(bad_arguments_fail_clearly, mcp, {})


def test_facts_cross_between_the_proxy_and_the_http_api(portal, mcp, url):
    remembered = ok(portal.call(mcp.call_tool, "remember", {"fact": "User sails"}))
    facts = httpx.get(f"{url}/v1/users/carol/facts").json()["items"]
    assert remembered["added"][0]["id"] in [f["id"] for f in facts]

    r = httpx.post(f"{url}/v1/facts", json={"user_id": "carol", "content": "User grows tomatoes"})
    assert r.status_code == 201, r.text
    found = ok(portal.call(mcp.call_tool, "recall", {"query": "tomatoes", "top_k": 1}))
    assert [x["id"] for x in found["results"]] == [r.json()["id"]]


def test_the_proxy_acts_in_the_project_named(portal, url):
    r = httpx.post(f"{url}/v1/projects", json={"name": "shop"})
    assert r.status_code == 201, r.text
    project = r.json()["id"]
    with portal.wrap_async_context_manager(
        Client(command("--url", url, "--user", "dora", "--project", str(project)))
    ) as client:
        ok(portal.call(client.call_tool, "remember", {"fact": "User keeps bees"}))
    there = httpx.get(f"{url}/v1/users/dora/facts", headers={"X-Project-Id": str(project)}).json()["items"]
    assert [f["content"] for f in there] == ["User keeps bees"]
    assert httpx.get(f"{url}/v1/users/dora/facts").json()["items"] == []

    with portal.wrap_async_context_manager(Client(command("--url", url, "--user", "dora", "--project", "99"))) as c:
        body = error(portal.call(c.call_tool, "remember", {"fact": "User keeps wasps"}))
    assert (body["message"], body["field"]) == ("X-Project-Id: no project 99", "X-Project-Id")
