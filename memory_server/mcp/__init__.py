"""The MCP door: memory tools for agents over stdio (`stdio`) and streamable HTTP (`server`, mounted by the
HTTP app), with callers identified in `access`."""
