"""`memory-server keys`: create, list and revoke API keys, beside a running server (keys live in SQLite only)."""

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
    new_database,
    require_database,
    settings_from,
)
from memory_server.errors import problem
from memory_server.models import Role
from memory_server.schemas import Identifier, Label, ProjectId

keys_app = typer.Typer(help="API keys: create, list, revoke. Works while the server runs.", no_args_is_help=True)


class KeySpec(BaseModel):
    tenant: Identifier
    role: Role
    name: Label | None = None
    project: ProjectId | None = None


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant (project) the key belongs to.")],
    role: Annotated[str, typer.Option(help="viewer (read), editor (publish, delete facts) or admin.")],
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
    project: Annotated[int | None, typer.Option(help="Limit the key to this project of its tenant.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    try:
        spec = KeySpec(tenant=tenant, role=role, name=name, project=project)
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: --{first['loc'][0]}: {problem(first)}", err=True)
        raise typer.Exit(2) from None
    settings = settings_from(config, data_dir)
    created = new_database(settings)
    key = as_operator(
        settings, lambda access, scope: access.create_key(scope, spec.role, spec.name, spec.project), spec.tenant
    )
    typer.echo(key.model_dump_json(indent=2))
    typer.echo("store the key now: it cannot be shown again", err=True)
    if created is not None:  # a mistyped --data-dir would make a key no running server knows
        typer.echo(f"note: {created} did not exist: the key is in this new database", err=True)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List keys (never their secrets)."""
    if tenant is not None:
        tenant = id_option("--tenant", tenant)
    settings = settings_from(config, data_dir)
    require_database(settings)
    found = as_operator(settings, lambda access, scope: access.list_keys(scope, every_tenant=tenant is None), tenant)
    typer.echo(json.dumps([k.model_dump(mode="json") for k in found], indent=2))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key; a running server refuses it from the next request on."""
    settings = settings_from(config, data_dir)
    require_database(settings)
    key = as_operator(settings, lambda access, scope: access.revoke_key(scope, key_id, any_tenant=True))
    typer.echo(key.model_dump_json(indent=2))
