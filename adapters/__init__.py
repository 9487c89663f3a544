"""Compatibility routers for other memory APIs, and client helpers for chat apps."""
