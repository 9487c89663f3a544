"""`memory-server mcp` over stdio, owning its data directory, for the one user named in its environment."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.mcp.scenarios import (
    bad_arguments_fail_clearly,
    error,
    every_tool_round_trip,
    ok,
    retried_remember_writes_once,
)
from tests.mcp.stdio import command


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stdio") / "data"


@pytest.fixture(scope="module")
def mcp(portal, data_dir) -> Iterator[Client]:
    server = command("--data-dir", str(data_dir), MEMORY_SERVER_MCP_USER="ana")
    with portal.wrap_async_context_manager(Client(server)) as client:
        yield client


def test_every_tool_round_trip_for_the_configured_user(portal, mcp):
    assert "'ana'" in mcp.instructions
    portal.call(every_tool_round_trip, mcp, {}, "ana")


def test_retried_remember_writes_once(portal, mcp):
    portal.call(retried_remember_writes_once, mcp, {})


def test_bad_arguments_fail_clearly(portal, mcp):
    portal.call(bad_arguments_fail_clearly, mcp, {})


def test_tools_cannot_reach_another_user(portal, mcp):
    ok(portal.call(mcp.call_tool, "remember", {"fact": "User plays the oboe"}))
    body = error(portal.call(mcp.call_tool, "recall", {"query": "oboe", "user_id": "bob"}))
    assert (body["code"], body["field"]) == ("forbidden", "user_id")
    found = ok(portal.call(mcp.call_tool, "recall", {"query": "oboe", "user_id": "ana"}))
    assert [r["content"] for r in found["results"]] == ["User plays the oboe"]


def test_a_second_process_on_the_same_data_directory_is_refused_clearly(mcp, data_dir):
    server = command("--data-dir", str(data_dir))
    done = subprocess.run(
        [server.command, *server.args], env=server.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"is in use by process" in done.stderr and b"memory-server mcp --url" in done.stderr


def test_a_bad_user_is_refused_at_start(tmp_path):
    server = command("--data-dir", str(tmp_path / "data"), "--user", "   ")
    done = subprocess.run(
        [server.command, *server.args], env=server.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (2, b"")
    assert b"--user: must not be empty" in done.stderr


def test_tools_act_in_the_project_named(portal, tmp_path):
    data_dir = tmp_path / "data"
    create = command("--data-dir", str(data_dir))  # the same clean environment, for the projects command
    made = subprocess.run(
        [create.command, "-m", "memory_server", "projects", "create", "shop", "--data-dir", str(data_dir)],
        env=create.env,
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr

    server = command("--data-dir", str(data_dir), "--user", "ana", "--project", "2")
    with portal.wrap_async_context_manager(Client(server)) as client:
        ok(portal.call(client.call_tool, "remember", {"fact": "User plays the oboe"}))
        found = ok(portal.call(client.call_tool, "recall", {"query": "oboe"}))
    assert [r["content"] for r in found["results"]] == ["User plays the oboe"]

    default = command("--data-dir", str(data_dir), "--user", "ana")
    with portal.wrap_async_context_manager(Client(default)) as client:
        assert ok(portal.call(client.call_tool, "recall", {"query": "oboe"}))["results"] == []


def test_a_project_that_does_not_exist_is_refused_at_start(tmp_path):
    server = command("--data-dir", str(tmp_path / "data"), "--user", "ana", "--project", "5")
    done = subprocess.run(
        [server.command, *server.args], env=server.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, b"")
    assert b"error: --project: no project 5" in done.stderr
