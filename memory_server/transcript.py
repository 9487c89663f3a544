"""A Claude Code session transcript (JSONL, appended to as the session goes) read as the messages worth keeping.

Each line is one entry; user and assistant entries carry a `message` whose content is a string or a list of
blocks. What the user typed and what the assistant answered is kept; tool calls, tool results, thinking,
sidechains (subagents), meta entries, compaction summaries and slash-command echoes are tool noise, not
conversation. Reading resumes at a byte offset and stops before a line still being written, so each complete
line is read once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

MAX_MESSAGE_CHARS = 4_000  # a pasted log or a generated file says little about the user; keep its start
_NOISE_PREFIXES = ("<command-", "<local-command-", "<system-reminder>", "<bash-", "<user-prompt-submit-hook>")


class Turn(NamedTuple):
    """One message worth keeping, and the byte offset just past its line (where the next read may start)."""

    role: str
    content: str
    created_at: str | None
    end: int


def read_new(path: Path, offset: int) -> tuple[list[Turn], int]:
    """The messages in the complete lines after `offset`, and the offset after the last complete line."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    turns: list[Turn] = []
    end = offset
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # still being written: the next read takes it whole
        end += len(line)
        turn = _turn(line, end)
        if turn is not None:
            turns.append(turn)
    return turns, end


def _turn(line: bytes, end: int) -> Turn | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("type") not in ("user", "assistant"):
        return None
    if entry.get("isSidechain") or entry.get("isMeta") or entry.get("isCompactSummary"):
        return None
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        return None
    text = clean_text(_text(message.get("content"))).strip()
    if not text or text.startswith(_NOISE_PREFIXES):
        return None
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS].rstrip() + " […]"
    timestamp = entry.get("timestamp")
    return Turn(message["role"], text, timestamp if isinstance(timestamp, str) else None, end)


def _text(content: Any) -> str:
    """The text of a message: a string, or its `text` blocks (tool_use, tool_result and thinking blocks dropped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        return "\n\n".join(p for p in parts if isinstance(p, str))
    return ""


def clean_text(text: str) -> str:
    """Without NUL characters and lone surrogates, which the server refuses to store."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
