"""`memory-server hook <event>`: the memory of a Claude Code session, fed and read by its hooks.

Before a prompt (UserPromptSubmit) or at the start of a session (SessionStart) it prints the user's profile,
with what is relevant to the prompt, as additional context. After a turn (Stop), at the end (SessionEnd) and
before compaction (PreCompact) it publishes the turns added to the transcript since the last publish.

With `--host cursor` it answers Cursor's `sessionStart` hook (the profile as `additional_context`), the one Cursor
hook that can add context.

It runs on every prompt, so it must cost nothing the user notices, and a memory outage must never break the
coding session: it imports only the standard library (no pydantic, httpx or the service), holds itself to a
hard deadline, and whatever fails (no server, a refusal, a bad input) ends with exit 0, no output and one line
in `<state dir>/hook.log`. A turn is published once: the transcript offset already published is kept per
session in the state directory, the turns a resumed session replays are known from the user's ledger
(`hook_ledger`), and the server's idempotent publish absorbs a retry after a lost answer; at
SessionEnd the state of sessions idle for 30 days is deleted, so the directory does not grow without end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memory_server.files import write_whole
from memory_server.hook_ledger import Ledger
from memory_server.hook_settings import HookError, HookSettings, agent_user, state_dir, valid_id
from memory_server.prompt_context import render_profile
from memory_server.transcript import Turn, clean_text, read_new

CONTEXT_EVENTS = ("SessionStart", "UserPromptSubmit")
PUBLISH_EVENTS = ("Stop", "SessionEnd", "PreCompact")
EVENTS = CONTEXT_EVENTS + PUBLISH_EVENTS
OPTIONS = ("--config", "--host")
HOSTS = ("claude-code", "cursor")
SOURCE = "claude-code"
DEADLINE_SECONDS = 1.5
BATCH_MESSAGES = 50  # well under the server's default max_messages (200)
MAX_QUERY_CHARS = 2_000
MAX_LOG_BYTES = 256 * 1024
STATE_MAX_AGE_SECONDS = 30 * 24 * 3600


def main(argv: list[str]) -> int:
    """Run `[--config FILE] [--host HOST] EVENT`; always 0, the answer (if any) on stdout, any failure in the log."""
    event = ""
    try:
        with _deadline(DEADLINE_SECONDS):
            options, event = _arguments(argv)
            settings = HookSettings.from_env(os.environ, options.get("--config"))
            handler = handle_cursor if options.get("--host") == "cursor" else handle
            answer = handler(event, json.loads(sys.stdin.buffer.read() or b"{}"), settings)
    except Exception as exc:  # a memory outage must not break the coding session: log it and carry on
        _log(state_dir(os.environ), event, exc)
        return 0
    if answer is not None:
        sys.stdout.write(json.dumps(answer))
    return 0


def _arguments(argv: list[str]) -> tuple[dict[str, str], str]:
    """`--option VALUE` pairs and the event, without argparse (its import would be paid before every prompt)."""
    options: dict[str, str] = {}
    rest = list(argv)
    while len(rest) > 1 and rest[0] in OPTIONS:
        name, value, *rest = rest
        options[name] = value
    if len(rest) != 1 or options.get("--host", HOSTS[0]) not in HOSTS:
        usage = f"memory-server hook [--config FILE] [--host {'|'.join(HOSTS)}] EVENT"
        raise HookError(f"usage: {usage} (got {' '.join(argv) or 'nothing'})")
    return options, rest[0]


def handle(event: str, payload: Any, settings: HookSettings) -> dict[str, Any] | None:
    """What Claude Code should read on stdout for `event`, or None; raises on anything worth a log line."""
    if event not in EVENTS:
        raise HookError(f"unknown event {event!r}: expected one of {', '.join(EVENTS)}")
    if not isinstance(payload, dict):
        raise HookError("the hook input is not a JSON object")
    user = agent_user(settings, Path(payload.get("cwd") or os.getcwd()))
    if event in CONTEXT_EVENTS:
        context = _context(settings, user, payload.get("prompt") if event == "UserPromptSubmit" else None)
        if not context:
            return None
        return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": context}}
    session = valid_id(str(payload.get("session_id") or ""), "session_id")
    transcript = payload.get("transcript_path")
    if not transcript:
        raise HookError("the hook input has no transcript_path")
    publish_new_turns(settings, user, session, Path(transcript).expanduser())
    if event == "SessionEnd":
        prune_sessions(settings.state_dir / "sessions", time.time() - STATE_MAX_AGE_SECONDS)
    return None


def handle_cursor(event: str, payload: Any, settings: HookSettings) -> dict[str, Any]:
    """Cursor's `sessionStart`: the profile as `additional_context` ({} when there is none, as Cursor expects JSON).

    It is the one Cursor hook that can add context (its `beforeSubmitPrompt` can only block a prompt), and Cursor's
    input names no project directory but its workspace roots, the first of which stands for `cwd`.
    """
    if event != "sessionStart":
        raise HookError(f"unknown Cursor event {event!r}: only sessionStart can add context")
    if not isinstance(payload, dict):
        raise HookError("the hook input is not a JSON object")
    roots = payload.get("workspace_roots")
    cwd = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else os.getcwd()
    context = _context(settings, agent_user(settings, Path(cwd)), None)
    return {"additional_context": context} if context else {}


def _context(settings: HookSettings, user: str, prompt: Any) -> str:
    body: dict[str, Any] = {"user_id": user, "max_tokens": settings.max_tokens}
    query = clean_text(prompt)[:MAX_QUERY_CHARS].strip() if isinstance(prompt, str) else ""
    if query:
        body["q"] = query
    return render_profile(_post(settings, "/v1/profile", body))


def publish_new_turns(settings: HookSettings, user: str, session: str, transcript: Path) -> int:
    """Publish what the transcript gained since the last publish, in batches; the number of messages sent.

    The offset moves past a batch only once the server has it, so a failure re-sends that same batch next time
    (stored once: the publish is idempotent). A batch the server refuses as invalid (a turn over its size limit)
    is sent again turn by turn, and only the turns it refuses are skipped and logged, or every later turn of the
    session would wait behind them.
    """
    state = settings.state_dir / "sessions" / hashlib.sha256(session.encode()).hexdigest()[:32]
    with _session_lock(state.with_suffix(".lock")) as locked:
        if not locked:
            return 0  # another hook of this session is publishing; the next one takes what is left
        offset = _offset(state.with_suffix(".json"), transcript)
        turns, end = read_new(transcript, offset)
        ledger = Ledger(settings.state_dir, user)
        turns = ledger.unpublished(turns)  # a resumed session replays turns published under its old id
        sent = 0
        for start in range(0, len(turns), BATCH_MESSAGES):
            batch = turns[start : start + BATCH_MESSAGES]
            if not _publish(settings, user, session, batch) and len(batch) > 1:
                for turn in batch:
                    _publish(settings, user, session, [turn])
            sent += len(batch)
            ledger.record(batch)
            _save_offset(state.with_suffix(".json"), transcript, batch[-1].end)
        _save_offset(state.with_suffix(".json"), transcript, end)
        return sent


def _publish(settings: HookSettings, user: str, session: str, turns: list[Turn]) -> bool:
    """Whether the server took the turns; False when it refused them as invalid (logged)."""
    try:
        _post(settings, "/v1/interactions", _interaction(user, session, turns))
    except HookError as exc:
        if not exc.permanent:
            raise
        _log(settings.state_dir, "publish", exc)
        return False
    return True


def prune_sessions(directory: Path, cutoff: float) -> int:
    """Delete the state of every session none of whose files changed since `cutoff`; the number of files deleted.

    One directory scan, run only at SessionEnd (after this session's state was saved, so it is never among them).
    A session's files (offset, lock, a temporary file left by a crash) go together, judged by the newest, so the
    lock of a session still publishing is never taken from under it.
    """
    newest: dict[str, float] = {}
    files: dict[str, list[str]] = {}
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        session = entry.name.split(".", 1)[0]
        with contextlib.suppress(OSError):
            newest[session] = max(newest.get(session, 0.0), entry.stat().st_mtime)
            files.setdefault(session, []).append(entry.path)
    removed = 0
    for session, changed in newest.items():
        if changed < cutoff:
            for path in files[session]:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed += 1
    return removed


def _interaction(user: str, session: str, batch: list[Turn]) -> dict[str, Any]:
    messages = [
        {"role": t.role, "content": t.content, **({"created_at": t.created_at} if t.created_at else {})} for t in batch
    ]
    return {"user_id": user, "session_id": session, "source": SOURCE, "messages": messages}


def _offset(path: Path, transcript: Path) -> int:
    """Where the last publish stopped; 0 for a new session, another transcript, or one that was rewritten."""
    try:
        state = json.loads(path.read_text("utf-8"))
        offset = int(state["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    if state.get("transcript") != str(transcript) or offset > transcript.stat().st_size:
        return 0
    return offset


def _save_offset(path: Path, transcript: Path, offset: int) -> None:
    """Written whole or not at all (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, json.dumps({"transcript": str(transcript), "offset": offset}).encode("utf-8"))


@contextlib.contextmanager
def _session_lock(path: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on the session's state where the OS has flock; elsewhere always granted."""
    try:
        import fcntl
    except ImportError:
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _post(settings: HookSettings, path: str, body: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    request = urllib.request.Request(
        settings.url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_SECONDS) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise HookError(
            f"{path}: HTTP {exc.code}: {_error_message(exc)}", permanent=exc.code in (400, 413, 422)
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise HookError(f"{settings.url} is not reachable: {getattr(exc, 'reason', exc)}") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return exc.reason


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt whatever is running after `seconds` (SIGALRM where the OS has it; else the socket timeouts)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(*_: object) -> None:
        raise TimeoutError(f"gave up after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _log(directory: Path, event: str, exc: BaseException) -> None:
    """One line per failure; the log is rotated once past MAX_LOG_BYTES. Logging itself never raises."""
    log = directory / "hook.log"
    message = " ".join(str(exc).split())  # one line, even for a YAML error's pointer
    line = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {event or '-'}: {type(exc).__name__}: {message}\n"
    with contextlib.suppress(OSError):
        log.parent.mkdir(parents=True, exist_ok=True)
        if log.exists() and log.stat().st_size > MAX_LOG_BYTES:
            os.replace(log, log.with_suffix(".log.1"))
        with log.open("a", encoding="utf-8") as f:
            f.write(line)
