"""The operator console at /console: server-rendered pages over the service, with their stylesheet in the
package (nothing is loaded from elsewhere, no script runs). See README "Console"."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from memory_server.console import auth, config_page, operate, pages, projects, user_page
from memory_server.console.web import PREFIX


def install(app: FastAPI) -> None:
    """Mount the console's routes and static files on `app`."""
    for router in (auth.router, pages.router, config_page.router, operate.router, projects.router, user_page.router):
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")
