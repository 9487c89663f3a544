"""The `memory-server` command, one module per group: serving, stored data, keys, projects."""

from __future__ import annotations

import typer

from memory_server.cli import data, migrate, server
from memory_server.cli.keys import keys_app
from memory_server.cli.projects import projects_app

app = typer.Typer(help="A self-hosted memory server for AI agents.", no_args_is_help=True, add_completion=False)
server.register(app)
data.register(app)
migrate.register(app)
app.add_typer(keys_app, name="keys")
app.add_typer(projects_app, name="projects")
