"""Reflexio compatibility: its profile API (`/api/...`) for the `reflexio-client` package."""

from adapters.reflexio.routes import router

__all__ = ["router"]
