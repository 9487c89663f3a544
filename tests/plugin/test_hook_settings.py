"""The agent plugin's settings: the environment first, then the `agent` section of the server's config file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from memory_server.config import load_settings
from memory_server.hook_settings import DEFAULT_MAX_TOKENS, DEFAULT_URL, HookError, HookSettings, read_agent_config
from tests.plugin.helpers import hook_input, run_hook

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "memory.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def test_the_file_fills_in_what_the_environment_leaves_unset(tmp_path):
    path = config(
        tmp_path,
        "agent:\n  url: http://memory.lan:9000/\n  api_key: msk_file\n  user: ana\n  user_per_project: true\n",
    )
    from_file = HookSettings.from_env({"MEMORY_SERVER_CONFIG": path})
    assert (from_file.url, from_file.api_key, from_file.user, from_file.per_project) == (
        "http://memory.lan:9000",
        "msk_file",
        "ana",
        True,
    )
    env = {"MEMORY_SERVER_URL": "http://127.0.0.1:1", "MEMORY_SERVER_API_KEY": "msk_env", "MEMORY_SERVER_USER": "bo"}
    both = HookSettings.from_env(env | {"MEMORY_SERVER_USER_PER_PROJECT": "0"}, path)
    assert (both.url, both.api_key, both.user, both.per_project) == ("http://127.0.0.1:1", "msk_env", "bo", False)


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("", DEFAULT_URL),
        ("server:\n  port: 9100\n", "http://127.0.0.1:9100"),
        ("server:\n  host: 0.0.0.0\n  port: 9100\n", "http://127.0.0.1:9100"),
        ("server:\n  host: '::1'\n", "http://[::1]:8765"),
        ("server:\n  host: memory.lan\n", "http://memory.lan:8765"),
    ],
)
def test_without_agent_url_the_servers_own_address_is_used(tmp_path, server, url):
    assert HookSettings.from_env({}, config(tmp_path, server)).url == url


def test_the_example_config_gives_what_the_server_defaults_to(monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_CONFIG", raising=False)
    settings = load_settings(EXAMPLE)
    agent = read_agent_config(str(EXAMPLE))
    assert agent == settings.agent.model_dump() | {"url": f"http://127.0.0.1:{settings.server.port}"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: [1, 2]\n", "agent must be a mapping"),
        ("agent:\n  url: 8765\n", "agent.url must be a str"),
        ("agent:\n  user_per_project: 'yes'\n", "agent.user_per_project must be a bool"),
        ("agent: {url: \n", "memory.yaml"),
    ],
)
def test_a_bad_file_is_an_error_naming_what_is_wrong(tmp_path, text, message):
    with pytest.raises(HookError, match=message):
        HookSettings.from_env({}, config(tmp_path, text))


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(HookError, match=r"missing\.yaml"):
        HookSettings.from_env({"MEMORY_SERVER_CONFIG": str(tmp_path / "missing.yaml")})


def test_the_hook_reaches_the_server_and_user_named_only_in_the_config(server, tmp_path):
    said = [{"role": "user", "content": "I grow tomatoes on my balcony."}]
    httpx.post(f"{server}/v1/interactions", json={"user_id": "gus", "wait": True, "messages": said}, timeout=30)
    path = config(tmp_path, f"agent:\n  url: {server}\n  user: gus\n")
    payload = hook_input("UserPromptSubmit", "s-cfg", tmp_path / "t.jsonl", tmp_path, prompt="What do I grow?")
    by_env = run_hook("UserPromptSubmit", payload, None, tmp_path / "state", MEMORY_SERVER_CONFIG=path)
    by_option = run_hook("UserPromptSubmit", payload, None, tmp_path / "state", "--config", path)
    for done in (by_env, by_option):
        assert done.returncode == 0, done.stderr
        assert done.stdout, (tmp_path / "state" / "hook.log").read_text()
        assert "tomatoes" in json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"]
    assert not (tmp_path / "state" / "hook.log").exists()


def test_a_broken_config_file_costs_nothing_but_a_log_line(tmp_path):
    path = config(tmp_path, "agent:\n  url: [\n")
    payload = hook_input("UserPromptSubmit", "s", tmp_path / "t.jsonl", tmp_path, prompt="hi")
    done = run_hook("UserPromptSubmit", payload, None, tmp_path / "state", MEMORY_SERVER_CONFIG=path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    lines = (tmp_path / "state" / "hook.log").read_text().splitlines()
    assert len(lines) == 1 and "UserPromptSubmit" in lines[0] and "memory.yaml" in lines[0]


@pytest.mark.parametrize(("value", "tokens"), [("300", 300), ("²", None), ("0", None), ("-5", None), ("", None)])
def test_a_token_budget_that_is_not_a_positive_number_falls_back_to_the_default(value, tokens):
    settings = HookSettings.from_env({"MEMORY_SERVER_HOOK_MAX_TOKENS": value}, None)
    assert settings.max_tokens == (tokens or DEFAULT_MAX_TOKENS)
