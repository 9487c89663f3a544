"""Memory Server: a self-hosted memory server for AI agents."""

from memory_server import runtime_env as _runtime_env

_runtime_env.apply()

__version__ = "0.1.0"
