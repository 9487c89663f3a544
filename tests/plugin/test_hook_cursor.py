"""`memory-server hook --host cursor sessionStart`, fed the JSON Cursor's hooks documentation gives for the event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from memory_server.hook_settings import HookSettings, agent_user
from tests.plugin.helpers import run_hook


def session_start(workspace: Path) -> dict[str, Any]:
    """Cursor's common input fields plus sessionStart's own (session_id, is_background_agent, composer_mode)."""
    return {
        "conversation_id": "c0ffee00-1111-2222-3333-444455556666",
        "generation_id": "9a8b7c6d-1111-2222-3333-444455556666",
        "model": "claude-sonnet-4",
        "hook_event_name": "sessionStart",
        "cursor_version": "2.1.0",
        "workspace_roots": [str(workspace)],
        "user_email": None,
        "session_id": "c0ffee00-1111-2222-3333-444455556666",
        "is_background_agent": False,
        "composer_mode": "agent",
    }


def test_session_start_adds_the_profile_of_the_workspaces_user_as_additional_context(server, tmp_path):
    workspace = tmp_path / "shop"
    workspace.mkdir()
    env = {"MEMORY_SERVER_USER": "jo", "MEMORY_SERVER_USER_PER_PROJECT": "1"}
    user = agent_user(HookSettings.from_env(env), workspace)
    said = [{"role": "user", "content": "I am a baker and I live in Lyon."}]
    httpx.post(f"{server}/v1/interactions", json={"user_id": user, "wait": True, "messages": said}, timeout=30)
    done = run_hook("sessionStart", session_start(workspace), server, tmp_path / "state", "--host", "cursor", **env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert list(answer) == ["additional_context"]
    assert answer["additional_context"].startswith("<user_memory>") and "Lyon" in answer["additional_context"]


def test_no_memory_yet_is_an_empty_answer(server, tmp_path):
    payload = session_start(tmp_path)
    done = run_hook("sessionStart", payload, server, tmp_path / "state", "--host", "cursor", MEMORY_SERVER_USER="kim")
    assert (done.returncode, done.stdout) == (0, "{}")


def test_a_cursor_event_that_cannot_add_context_is_logged_not_answered(server, tmp_path):
    payload = session_start(tmp_path) | {"hook_event_name": "beforeSubmitPrompt", "prompt": "hi", "attachments": []}
    done = run_hook("beforeSubmitPrompt", payload, server, tmp_path / "state", "--host", "cursor")
    assert (done.returncode, done.stdout) == (0, "")
    assert "only sessionStart can add context" in (tmp_path / "state" / "hook.log").read_text()
    unknown = run_hook("sessionStart", payload, server, tmp_path / "state", "--host", "windsurf")
    assert (unknown.returncode, unknown.stdout) == (0, "")
    assert "--host claude-code|cursor" in (tmp_path / "state" / "hook.log").read_text()
