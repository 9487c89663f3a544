"""Where the agent plugin finds the server and whose memory it keeps: the environment, then the server's config file.

`memory-server hook` and `memory-server mcp --agent-user` must agree on both, so both read them here. The
environment Claude Code passes to hooks wins (MEMORY_SERVER_URL, MEMORY_SERVER_API_KEY, MEMORY_SERVER_USER,
MEMORY_SERVER_USER_PER_PROJECT); what it leaves unset comes from the `agent` section of the config file named by
`--config` or MEMORY_SERVER_CONFIG (the server's own file, whose `server.host` and `server.port` give the URL when
`agent.url` is empty). The hook runs before every prompt, so this module imports neither pydantic nor the server's
config model, and PyYAML (~10-15 ms) only when there is a file to read.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from memory_server.ids import MAX_ID_LENGTH, check_identifier, is_id_character, row_number

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_MAX_TOKENS = 400
_TRUE = ("1", "true", "yes")
_ANY_ADDRESS = ("", "0.0.0.0", "::")


class HookError(Exception):
    """Something the log should say; `permanent` when retrying the same publish can never succeed."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class HookSettings(NamedTuple):
    """Where the server is and whose memory this is."""

    url: str
    api_key: str | None
    user: str | None
    per_project: bool
    state_dir: Path
    max_tokens: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], config_file: str | None = None) -> HookSettings:
        """From `env`, then the config file (`config_file`, else MEMORY_SERVER_CONFIG); HookError if it is bad."""
        agent = read_agent_config(config_file or env.get("MEMORY_SERVER_CONFIG") or None)
        tokens = env.get("MEMORY_SERVER_HOOK_MAX_TOKENS", "")
        per_project = env.get("MEMORY_SERVER_USER_PER_PROJECT")
        return cls(
            url=(env.get("MEMORY_SERVER_URL") or agent.get("url") or DEFAULT_URL).rstrip("/"),
            api_key=env.get("MEMORY_SERVER_API_KEY") or agent.get("api_key") or None,
            user=env.get("MEMORY_SERVER_USER") or agent.get("user") or None,
            per_project=per_project in _TRUE if per_project else bool(agent.get("user_per_project")),
            state_dir=state_dir(env),
            max_tokens=row_number(tokens) or DEFAULT_MAX_TOKENS,
        )


def state_dir(env: Mapping[str, str]) -> Path:
    """Where the hook keeps its offsets and its log: from the environment only, so a bad config file is logged too."""
    state = env.get("MEMORY_SERVER_STATE_DIR") or str(
        Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "memory-server"
    )
    return Path(state).expanduser()


def read_agent_config(path: str | None) -> dict[str, Any]:
    """The `agent` section of the config file at `path` ({} without one), its URL filled in from `server`.

    Only the keys the plugin needs are read, and only their types are checked here: the user is checked as an id
    where it is used, and the server, which reads the same file, refuses anything else wrong in it at start-up.
    """
    if path is None:
        return {}
    import yaml  # only when there is a file: the hook's start-up is paid before every prompt

    try:
        tree = yaml.load(
            Path(path).expanduser().read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HookError(f"config file {path}: {exc}") from None
    tree = tree if isinstance(tree, dict) else {}
    agent = _section(tree, "agent", path)
    for key, kind in (("url", str), ("api_key", str), ("user", str), ("user_per_project", bool)):
        if agent.get(key) is not None and not isinstance(agent[key], kind):
            raise HookError(f"config file {path}: agent.{key} must be a {kind.__name__}")
    if not agent.get("url"):
        server = _section(tree, "server", path)
        host, port = str(server.get("host") or "127.0.0.1"), server.get("port") or 8765
        host = "127.0.0.1" if host in _ANY_ADDRESS else f"[{host}]" if ":" in host else host
        agent = agent | {"url": f"http://{host}:{port}"}
    return agent


def _section(tree: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    section = tree.get(name) or {}
    if not isinstance(section, dict):
        raise HookError(f"config file {path}: {name} must be a mapping")
    return section


def agent_user(settings: HookSettings, cwd: Path) -> str:
    """Whose memory: the configured user, else the OS user; with per_project, one memory per project directory.

    A named user must be a valid id (a typo should not silently make a second memory); the OS user and the
    project's name are made into one, and the project part ends with a hash of its full path so that two
    checkouts named alike stay apart.
    """
    if settings.user is not None:
        base = valid_id(settings.user, "MEMORY_SERVER_USER (or agent.user)")
    else:
        base = _as_id(getpass.getuser()) or "user"
    if not settings.per_project:
        return base
    resolved = str(cwd.resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    project = (_as_id(cwd.resolve().name) or "root")[:64]
    return f"{base[: MAX_ID_LENGTH - len(project) - 10]}:{project}-{digest}"


def valid_id(value: str, name: str) -> str:
    """`value` if it is a valid id; else HookError naming `name`."""
    try:
        check_identifier(value)
    except ValueError as exc:
        raise HookError(f"{name}: {exc}") from None
    if len(value) > MAX_ID_LENGTH:
        raise HookError(f"{name}: must be at most {MAX_ID_LENGTH} characters")
    return value


def _as_id(name: str) -> str:
    """`name` made into an id: each character the id rule refuses becomes '-'."""
    made = "".join(ch if is_id_character(ch) else "-" for ch in name).strip("-")[:MAX_ID_LENGTH]
    return "" if made.strip(".") == "" else made
