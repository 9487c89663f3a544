"""The MCP door: memory tools for agents over stdio and streamable HTTP."""

from memory_server.mcp.access import Caller, by_api_key, fixed
from memory_server.mcp.server import McpState, MemoryMCP, create_server

__all__ = ["Caller", "McpState", "MemoryMCP", "by_api_key", "create_server", "fixed"]
