"""The plugin's MCP server (`memory-server mcp --agent-user`, as `.mcp.json` starts it) acts for the hooks' user."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from memory_server.hook_settings import HookSettings, agent_user
from tests.mcp.scenarios import ok
from tests.mcp.stdio import command
from tests.plugin.helpers import hook_input, run_hook

PLUGIN = Path(__file__).resolve().parents[2] / "adapters" / "claude_code"


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's `${VAR}` and `${VAR:-default}` in .mcp.json, against the environment it runs in."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1]) or m[2] or "", value)


async def remember_and_read(env: dict[str, str], project: Path, fact: str) -> dict:
    """`remember` then `get_profile` through the MCP server the plugin's .mcp.json starts, in `project`, when Claude
    Code runs with `env`."""
    spec = json.loads((PLUGIN / ".mcp.json").read_text())["mcpServers"]["memory"]
    server = command(*spec["args"][1:], **{k: expand(v, env) for k, v in spec["env"].items()})
    server.cwd = project
    async with Client(server) as client:
        ok(await client.call_tool("remember", {"fact": fact}))
        return ok(await client.call_tool("get_profile", {}))


@pytest.mark.parametrize("per_project", ["", "1"])
def test_remember_lands_on_the_user_the_hooks_derive(server, tmp_path, per_project):
    project = tmp_path / "my app"
    project.mkdir()
    env = {"MEMORY_SERVER_URL": server, "MEMORY_SERVER_USER": "hal", "MEMORY_SERVER_USER_PER_PROJECT": per_project}
    fact = f"User writes Go at work ({per_project or 'one memory'})"
    profile = anyio.run(remember_and_read, env, project, fact)
    assert fact in json.dumps(profile)

    user = agent_user(HookSettings.from_env(env), project)
    assert user.startswith("hal:my-app-") if per_project else user == "hal"
    facts = httpx.get(f"{server}/v1/users/{user}/facts").json()["items"]
    assert fact in [f["content"] for f in facts]
    payload = hook_input("UserPromptSubmit", "s-mcp", tmp_path / "t.jsonl", project, prompt="Which language at work?")
    done = run_hook("UserPromptSubmit", payload, server, tmp_path / "state", **env)
    assert fact.removeprefix("User ") in json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]


def test_with_only_a_config_file_it_finds_the_server_and_user_the_hooks_find(server, tmp_path):
    path = tmp_path / "memory.yaml"
    path.write_text(f"agent:\n  url: {server}\n  user: ivy\n")
    fact = "User keeps bees"
    profile = anyio.run(remember_and_read, {"MEMORY_SERVER_CONFIG": str(path)}, tmp_path, fact)
    assert fact in json.dumps(profile)
    assert fact in [f["content"] for f in httpx.get(f"{server}/v1/users/ivy/facts").json()["items"]]
