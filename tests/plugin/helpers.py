"""Running `memory-server hook` as Claude Code does, and what the plugin's tests feed it and read back."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers import child_env

SCRIPT = Path(sys.executable).with_name("memory-server")


def run_hook(
    event: str, payload: dict[str, Any], url: str | None, state: Path, *options: str, **env: str
) -> subprocess.CompletedProcess:
    """The console script, as the plugin's hooks.json calls it, with the hook input on stdin (no URL: none set)."""
    base = child_env()
    base |= {"MEMORY_SERVER_STATE_DIR": str(state), **({"MEMORY_SERVER_URL": url} if url else {}), **env}
    return subprocess.run(
        [str(SCRIPT), "hook", *options, event],
        input=json.dumps(payload),
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
    )


def hook_input(event: str, session: str, transcript: Path, cwd: Path, **fields: Any) -> dict[str, Any]:
    """The fields every hook event gets (session_id, transcript_path, cwd, hook_event_name), plus the event's own."""
    common = {"session_id": session, "transcript_path": str(transcript), "cwd": str(cwd), "hook_event_name": event}
    return common | {"permission_mode": "default"} | fields


def entry(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    role = "assistant" if kind == "assistant" else "user"
    return {
        "type": kind,
        "uuid": f"u{time.monotonic_ns()}",
        "timestamp": "2026-11-20T10:00:00.000Z",
        "message": {"role": role, "content": content},
        **extra,
    }


def write_lines(path: Path, entries: list[dict[str, Any]], partial: str = "") -> None:
    with path.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(e) + "\n" for e in entries)
        f.write(partial)


def episodes(url: str, user: str, session: str, settle: float = 0.5) -> list[tuple[str, str]]:
    """The user's stored messages of `session`, oldest first, once the count has stopped changing."""
    seen: list[tuple[str, str]] | None = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page = httpx.get(f"{url}/v1/users/{user}/episodes", params={"session_id": session, "limit": 200}).json()
        now = [(e["role"], e["content"]) for e in reversed(page.get("items", []))]
        if now == seen:
            return now
        seen = now
        time.sleep(settle)
    raise AssertionError("episodes kept changing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
