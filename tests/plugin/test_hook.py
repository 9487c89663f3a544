"""`memory-server hook <event>` as Claude Code runs it: a subprocess fed the documented hook JSON, against a real
server (one per module), with a transcript JSONL written the way Claude Code writes it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from memory_server.config import LimitSettings
from memory_server.hook import HookSettings, agent_user
from memory_server.ids import check_identifier
from tests.plugin.helpers import SCRIPT, entry, episodes, free_port, hook_input, run_hook, write_lines
from tests.servers import child_env, running_server, server_settings

HEAVY = ("pydantic", "httpx", "litellm", "chromadb", "onnxruntime", "numpy", "fastapi", "typer", "uvicorn")


def test_user_prompt_submit_adds_the_profile_and_relevant_memory_as_context(server, tmp_path):
    said = [{"role": "user", "content": "I am a nurse and I live in Berlin."}]
    httpx.post(f"{server}/v1/interactions", json={"user_id": "ana", "wait": True, "messages": said}, timeout=30)
    payload = hook_input("UserPromptSubmit", "s-ctx", tmp_path / "t.jsonl", tmp_path, prompt="Where do I live?")
    done = run_hook("UserPromptSubmit", payload, server, tmp_path / "state", MEMORY_SERVER_USER="ana")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "UserPromptSubmit"
    assert out["additionalContext"].startswith("<user_memory>")
    assert "Berlin" in out["additionalContext"]

    start = run_hook(
        "SessionStart",
        hook_input("SessionStart", "s-ctx", tmp_path / "t.jsonl", tmp_path, source="startup"),
        server,
        tmp_path / "state",
        MEMORY_SERVER_USER="ana",
    )
    assert json.loads(start.stdout)["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "nurse" in json.loads(start.stdout)["hookSpecificOutput"]["additionalContext"]


def test_a_user_with_no_memory_gets_no_output(server, tmp_path):
    payload = hook_input("UserPromptSubmit", "s-empty", tmp_path / "t.jsonl", tmp_path, prompt="hello")
    done = run_hook("UserPromptSubmit", payload, server, tmp_path / "state", MEMORY_SERVER_USER="nobody-yet")
    assert (done.returncode, done.stdout) == (0, "")


def test_stop_publishes_new_turns_once_without_tool_noise(server, tmp_path):
    transcript, state, session, user = tmp_path / "s1.jsonl", tmp_path / "state", "7f1c0b1e-stop", "bo"
    write_lines(
        transcript,
        [
            {"type": "summary", "summary": "Earlier work"},
            entry("user", "Please rename the config loader; I prefer snake_case names."),
            entry(
                "assistant",
                [
                    {"type": "thinking", "thinking": "The user wants a rename."},
                    {"type": "text", "text": "I will rename it to load_config."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {"file_path": "a.py"}},
                ],
            ),
            entry("user", [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x" * 50_000}]),
            entry("user", "<command-name>/clear</command-name>"),
            entry("user", "Caveat: local command output follows", isMeta=True),
            entry("assistant", [{"type": "text", "text": "subagent chatter"}], isSidechain=True),
            entry("assistant", [{"type": "text", "text": "Done: load_config it is."}]),
        ],
        partial=json.dumps(entry("user", "half-written line")),
    )
    stop = hook_input("Stop", session, transcript, tmp_path, stop_hook_active=False)
    first = run_hook("Stop", stop, server, state, MEMORY_SERVER_USER=user)
    assert (first.returncode, first.stdout) == (0, ""), first.stderr
    expected = [
        ("user", "Please rename the config loader; I prefer snake_case names."),
        ("assistant", "I will rename it to load_config."),
        ("assistant", "Done: load_config it is."),
    ]
    assert episodes(server, user, session) == expected

    again = run_hook("Stop", stop, server, state, MEMORY_SERVER_USER=user)
    assert again.returncode == 0
    assert episodes(server, user, session) == expected

    write_lines(transcript, [], partial="\n")  # the half-written line is complete now
    write_lines(transcript, [entry("assistant", [{"type": "text", "text": "Anything else?"}])])
    end = run_hook(
        "SessionEnd",
        hook_input("SessionEnd", session, transcript, tmp_path, reason="other"),
        server,
        state,
        MEMORY_SERVER_USER=user,
    )
    assert end.returncode == 0
    assert episodes(server, user, session) == [
        *expected,
        ("user", "half-written line"),
        ("assistant", "Anything else?"),
    ]
    assert not (state / "hook.log").exists()


def test_a_turn_the_server_refuses_is_skipped_alone(tmp_path):
    """A server whose size limit is below the hook's own trim refuses the batch: its other turns still go."""
    transcript, state, session, user = tmp_path / "s3.jsonl", tmp_path / "state", "sess-big", "di"
    turns = ["I am a data scientist.", "Nice.", "log line " * 300, "I see the log."]
    write_lines(transcript, [entry("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)])
    with server_settings(tmp_path / "data") as settings:
        settings.limits = LimitSettings(max_content_chars=2_000)
        with running_server(settings) as url:
            done = run_hook(
                "Stop", hook_input("Stop", session, transcript, tmp_path), url, state, MEMORY_SERVER_USER=user
            )
            assert (done.returncode, done.stdout) == (0, ""), done.stderr
            kept = [t for i, t in enumerate(turns) if i != 2]
            assert [content for _, content in episodes(url, user, session)] == kept
    log = (state / "hook.log").read_text()
    assert log.count("at most 2000 characters") == 2  # the batch, then the turn alone


def test_turns_published_while_the_server_was_down_go_out_with_the_next_event(server, tmp_path):
    transcript, state, session, user = tmp_path / "s2.jsonl", tmp_path / "state", "sess-outage", "cy"
    write_lines(transcript, [entry("user", "I deploy with Nomad, not Kubernetes.")])
    down = run_hook(
        "Stop",
        hook_input("Stop", session, transcript, tmp_path),
        f"http://127.0.0.1:{free_port()}",
        state,
        MEMORY_SERVER_USER=user,
    )
    assert (down.returncode, down.stdout) == (0, "")
    compact = hook_input("PreCompact", session, transcript, tmp_path, trigger="auto", custom_instructions="")
    assert run_hook("PreCompact", compact, server, state, MEMORY_SERVER_USER=user).returncode == 0
    assert episodes(server, user, session) == [("user", "I deploy with Nomad, not Kubernetes.")]


def test_session_end_deletes_the_state_of_sessions_idle_for_30_days(server, tmp_path):
    transcript, state = tmp_path / "s3.jsonl", tmp_path / "state"
    write_lines(transcript, [entry("user", "I review pull requests in the morning.")])
    sessions = state / "sessions"
    sessions.mkdir(parents=True)
    month_ago = time.time() - 31 * 24 * 3600
    for name, age in [
        ("old.json", month_ago),
        ("old.lock", month_ago),
        ("old.123.tmp", month_ago),
        ("busy.lock", month_ago),
        ("busy.json", time.time()),
        ("recent.json", time.time() - 3600),
    ]:
        (sessions / name).write_text("{}")
        os.utime(sessions / name, (age, age))
    stop = hook_input("Stop", "sess-prune", transcript, tmp_path)
    assert run_hook("Stop", stop, server, state, MEMORY_SERVER_USER="di").returncode == 0
    assert (sessions / "old.json").exists()  # only SessionEnd prunes
    end = hook_input("SessionEnd", "sess-prune", transcript, tmp_path, reason="logout")
    assert run_hook("SessionEnd", end, server, state, MEMORY_SERVER_USER="di").returncode == 0
    left = sorted(p.name for p in sessions.iterdir())
    mine = hashlib.sha256(b"sess-prune").hexdigest()[:32]
    assert left == sorted(["busy.json", "busy.lock", "recent.json", f"{mine}.json", f"{mine}.lock"])


def test_an_unreachable_server_costs_nothing(tmp_path):
    state = tmp_path / "state"
    payload = hook_input("UserPromptSubmit", "s", tmp_path / "t.jsonl", tmp_path, prompt="hi")
    started = time.monotonic()
    done = run_hook("UserPromptSubmit", payload, f"http://127.0.0.1:{free_port()}", state)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert time.monotonic() - started < 3
    lines = (state / "hook.log").read_text().splitlines()
    assert len(lines) == 1 and "UserPromptSubmit" in lines[0] and "not reachable" in lines[0]


def test_a_server_that_never_answers_is_given_up_on_at_the_deadline(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        port = silent.getsockname()[1]
        payload = hook_input("UserPromptSubmit", "s", tmp_path / "t.jsonl", tmp_path, prompt="hi")
        started = time.monotonic()
        done = run_hook("UserPromptSubmit", payload, f"http://127.0.0.1:{port}", tmp_path / "state")
        elapsed = time.monotonic() - started
    assert (done.returncode, done.stdout) == (0, "")
    assert 1.4 < elapsed < 3.5
    assert "gave up after 1.5 s" in (tmp_path / "state" / "hook.log").read_text()


def test_the_hook_imports_none_of_the_servers_heavy_dependencies(tmp_path):
    env = child_env()
    env |= {"MEMORY_SERVER_URL": f"http://127.0.0.1:{free_port()}", "MEMORY_SERVER_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "memory_server", "hook", "UserPromptSubmit"],
        input='{"prompt": "hi"}',
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "memory_server.hook" in imported
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
    assert "yaml" not in imported  # only with a config file to read


def test_help_is_the_cli_commands_and_names_every_option():
    done = subprocess.run([str(SCRIPT), "hook", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert all(option in done.stdout for option in ("--config", "--host", "UserPromptSubmit"))


def test_one_memory_per_project_directory_gives_valid_distinct_ids(tmp_path):
    settings = HookSettings.from_env({"MEMORY_SERVER_USER": "ana", "MEMORY_SERVER_USER_PER_PROJECT": "1"})
    (tmp_path / "a" / "my app").mkdir(parents=True)
    (tmp_path / "b" / "my app").mkdir(parents=True)
    first, second = agent_user(settings, tmp_path / "a" / "my app"), agent_user(settings, tmp_path / "b" / "my app")
    assert first.startswith("ana:my-app-") and second.startswith("ana:my-app-") and first != second
    assert check_identifier(first) == first
    assert agent_user(HookSettings.from_env({"MEMORY_SERVER_USER": "ana"}), tmp_path) == "ana"


def test_a_resumed_session_publishes_only_its_new_turns(server, tmp_path):
    state, user = tmp_path / "state", "rue"
    said = [
        entry("user", "I keep my dotfiles in a bare git repository.", timestamp="2026-11-20T09:00:00.000Z"),
        entry("assistant", [{"type": "text", "text": "Noted: a bare repo."}], timestamp="2026-11-20T09:00:05.000Z"),
    ]
    first = tmp_path / "first.jsonl"
    write_lines(first, said)
    done = run_hook("Stop", hook_input("Stop", "s-first", first, tmp_path), server, state, MEMORY_SERVER_USER=user)
    assert done.returncode == 0, done.stderr
    assert len(episodes(server, user, "s-first")) == 2

    resumed = tmp_path / "resumed.jsonl"  # `claude --resume`: a new id, the old turns replayed, then new ones
    write_lines(resumed, [*said, entry("user", "Now I also use stow.", timestamp="2026-11-21T08:00:00.000Z")])
    stop = hook_input("Stop", "s-resumed", resumed, tmp_path)
    assert run_hook("Stop", stop, server, state, MEMORY_SERVER_USER=user).returncode == 0
    assert episodes(server, user, "s-resumed") == [("user", "Now I also use stow.")]
    assert len(episodes(server, user, "s-first")) == 2
    assert not (state / "hook.log").exists()
