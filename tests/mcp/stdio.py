"""Starting `memory-server mcp` as a subprocess, the way Claude Desktop or Claude Code does."""

from __future__ import annotations

import os
import sys

from mcp.client.stdio import StdioServerParameters


def command(*args: str, **env: str) -> StdioServerParameters:
    """`python -m memory_server mcp ARGS` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMORY_SERVER_")}
    return StdioServerParameters(command=sys.executable, args=["-m", "memory_server", "mcp", *args], env=base | env)
