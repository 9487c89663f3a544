"""Memory Server: a self-hosted memory server for AI agents."""

from extractors import runtime as _runtime

_runtime.apply()

__version__ = "0.1.0"
