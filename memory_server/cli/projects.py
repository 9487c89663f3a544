"""`memory-server projects`: create and list a tenant's projects, beside a running server."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from memory_server.cli.common import (
    ConfigOption,
    DataDirOption,
    as_operator,
    id_option,
    require_database,
    settings_from,
)
from memory_server.errors import problem
from memory_server.schemas import Label

projects_app = typer.Typer(
    help="Projects: separate memory spaces of a tenant. Works while the server runs.", no_args_is_help=True
)

TenantArg = Annotated[str | None, typer.Option("--tenant", help="The tenant (default: the settings' tenant).")]


class ProjectSpec(BaseModel):
    name: Label


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="The project's name, unique in its tenant.")],
    tenant: TenantArg = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a project; calls name it with the `X-Project-Id` header (or a key limited to it)."""
    try:
        spec = ProjectSpec(name=name)
    except ValidationError as exc:
        typer.echo(f"error: NAME: {problem(exc.errors()[0])}", err=True)
        raise typer.Exit(2) from None
    tenant = None if tenant is None else id_option("--tenant", tenant)
    settings = settings_from(config, data_dir)
    project = as_operator(settings, lambda access, scope: access.projects.create(scope, spec.name), tenant)
    typer.echo(project.model_dump_json(indent=2))


@projects_app.command("list")
def projects_list(tenant: TenantArg = None, config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """The tenant's projects; project 1 is its default one."""
    tenant = None if tenant is None else id_option("--tenant", tenant)
    settings = settings_from(config, data_dir)
    require_database(settings)
    found = as_operator(settings, lambda access, scope: access.projects.listed(scope), tenant)
    typer.echo(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
