"""The operator console at /console: server-rendered pages over the service, with their stylesheet in the
package (nothing is loaded from elsewhere, no script runs). See README "Console"."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from memory_server.console import (
    auth,
    config_page,
    operate,
    pages,
    projects,
    reextract,
    segments_page,
    user_page,
    web,
    webhooks_page,
)
from memory_server.console.web import PREFIX

PAGES = (auth, pages, user_page, config_page, reextract, segments_page, webhooks_page, operate, projects)


def install(app: FastAPI) -> None:
    """Mount the console's routes, its static files, and last an HTML "not found" for any other console path."""
    for module in PAGES:
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")
    app.include_router(web.fallback)
