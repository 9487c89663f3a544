"""Starting `memory-server mcp` as a subprocess, the way Claude Desktop or Claude Code does."""

from __future__ import annotations

import sys

from mcp.client.stdio import StdioServerParameters

from tests.servers import child_env


def command(*args: str, **env: str) -> StdioServerParameters:
    """`python -m memory_server mcp ARGS` with a clean environment plus `env`."""
    base = child_env()
    return StdioServerParameters(command=sys.executable, args=["-m", "memory_server", "mcp", *args], env=base | env)
