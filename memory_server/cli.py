"""The `memory-server` command: serve, reindex, export, import."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, TypeAdapter, ValidationError
from rich.progress import Progress

from memory_server import keys
from memory_server.config import ConfigError, Settings, load_settings
from memory_server.context import Scope
from memory_server.errors import ServiceError
from memory_server.models import Role
from memory_server.schemas import Identifier, Label
from memory_server.service import MemoryService
from memory_server.store.db import Database

app = typer.Typer(help="A self-hosted memory server for AI agents.", no_args_is_help=True, add_completion=False)
T = TypeVar("T")


class KeySpec(BaseModel):
    tenant: Identifier
    role: Role
    name: Label | None = None


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (else $MEMORY_SERVER_CONFIG).")
]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Where SQLite and Chroma live.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="The tenant the user belongs to (default: the settings' tenant).")
]


def _id_option(option: str, value: str) -> str:
    """An id named on the command line, held to the rule every door applies (`schemas.Identifier`)."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        typer.echo(f"error: {option}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def _settings(config: Path | None, data_dir: Path | None = None, **server: object) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        settings = load_settings(config, **overrides)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    given = {k: v for k, v in server.items() if v is not None}
    if given:
        settings.server = settings.server.model_copy(update=given)
    return settings


def _scope(settings: Settings, tenant: str | None) -> Scope:
    """An operator at the console acts as admin of the tenant named (else the settings' tenant)."""
    return Scope(settings.tenant if tenant is None else _id_option("--tenant", tenant), "cli")


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; an error the user can act on ends it with its message and exit code 1."""
    try:
        return asyncio.run(work)
    except ServiceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _with_service(settings: Settings, work: Callable[[MemoryService], Awaitable[T]]) -> T:
    async def run() -> T:
        service = await MemoryService.open(settings)
        try:
            return await work(service)
        finally:
            await service.close()

    return _run(run())


@app.command()
def serve(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow serving without API keys on a non-loopback address.")
    ] = False,
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open", help="Serve without API keys although every key was revoked (recorded in the change log)."
        ),
    ] = False,
) -> None:
    """Start the HTTP API (and the extraction workers)."""
    import uvicorn

    from memory_server.api.app import create_app

    settings = _settings(
        config, data_dir, host=host, port=port, insecure=insecure or None, allow_open=allow_open or None
    )

    async def run() -> None:
        # The service opens before uvicorn starts, so a start-up refusal (a data directory in use, no keys on a
        # public address) is one line with its reason, not a lifespan traceback.
        async with MemoryService.running(settings) as service:
            app = create_app(settings, service)
            server = settings.server
            config = uvicorn.Config(
                app, host=server.host, port=server.port, log_level=settings.log_level, access_log=False
            )
            await uvicorn.Server(config).serve()

    _run(run())


@app.command()
def reindex(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Rebuild the vector index from SQLite (re-embedding vectors of another model)."""
    settings = _settings(config, data_dir)
    with Progress() as bar:
        task = bar.add_task("reindexing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = _with_service(settings, lambda s: s.reindex(progress))
    typer.echo(f"indexed {count} live facts")


@app.command()
def check(
    repair: Annotated[bool, typer.Option("--repair", help="Replay what disagrees through the vector outbox.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Verify the vector index against SQLite: missing, orphan and stale vectors, pending operations.

    Prints a JSON report; exits 1 when the index (still) disagrees with SQLite.
    """
    settings = _settings(config, data_dir)
    report = _with_service(settings, lambda s: s.check_index(repair))
    typer.echo(report.model_dump_json(indent=2, exclude_none=True))
    if not report.consistent:
        if not repair:
            typer.echo("the index disagrees with SQLite: run `memory-server check --repair`", err=True)
        raise typer.Exit(1)


@app.command("export")
def export_user(
    user: Annotated[str, typer.Option("--user", help="The user to export.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    tenant: TenantOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write a user's messages, facts and change log as portable JSON."""
    user = _id_option("--user", user)
    settings = _settings(config, data_dir)
    data = _with_service(settings, lambda s: s.export_user(_scope(settings, tenant), user))
    text = data.model_dump_json(indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {len(data.facts)} facts, {len(data.messages)} messages to {out}", err=True)


@app.command("import")
def import_user(
    file: Annotated[
        Path, typer.Argument(help="A file written by `memory-server export`.", exists=True, dir_okay=False)
    ],
    tenant: TenantOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load a user's export; importing the same file again adds nothing."""
    from memory_server.portability import load_export

    settings = _settings(config, data_dir)
    try:
        data = load_export(file.read_text(encoding="utf-8"))
    except (ValueError, ValidationError) as exc:
        typer.echo(f"error: {file} is not a memory-server export: {exc}", err=True)
        raise typer.Exit(2) from None
    added = _with_service(settings, lambda s: s.import_user(_scope(settings, tenant), data))
    typer.echo(json.dumps({"user_id": data.user_id, "added": added}))


@app.command()
def reextract(
    user: Annotated[list[str] | None, typer.Option("--user", help="A user to re-extract (repeatable).")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every user with stored messages.")] = False,
    tenant: TenantOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Replay users' stored messages through the current extraction config (changes go to the change log)."""
    if bool(user) == all_users:
        typer.echo("error: give --user ID (one or more) or --all", err=True)
        raise typer.Exit(2)
    named = [_id_option("--user", u) for u in user or []]
    settings = _settings(config, data_dir)
    scope = _scope(settings, tenant)

    async def run(service: MemoryService) -> list[str]:
        await service.start()
        users = await service.users_with_messages(scope) if all_users else named
        failed = []
        with Progress() as bar:
            task = bar.add_task("re-extracting", total=len(users))
            for user_id in users:
                job = await service.reextract(scope, user_id)
                await service.wait(scope, job.request_id)
                if (await service.request(scope, job.request_id)).status != "done":
                    failed.append(user_id)
                bar.advance(task)
        return failed

    failed = _with_service(settings, run)
    if failed:
        typer.echo(f"re-extraction did not finish for: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo("re-extraction done")


@app.command("mcp")
def mcp_stdio(
    user: Annotated[
        str | None,
        typer.Option("--user", envvar="MEMORY_SERVER_MCP_USER", help="The user this agent's memory is about."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="MEMORY_SERVER_URL", help="A running server to use, not the data dir."),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", envvar="MEMORY_SERVER_API_KEY", help="API key for the server at --url.")
    ] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the memory tools to an agent over stdio (Claude Desktop, Claude Code, Cursor...).

    With --user (or mcp.user in the config), every tool acts for that user only. Without --url this process
    opens the data directory itself, so no server may be running on it.
    """
    from memory_server.mcp.stdio import serve_stdio

    settings = _settings(config, data_dir)
    user = user if user is not None else settings.mcp.user
    if user is not None:
        user = _id_option("--user", user)
    _run(serve_stdio(settings, user_id=user, url=url, api_key=key))


keys_app = typer.Typer(help="API keys: create, list, revoke. Works while the server runs.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Keys live in SQLite only, which a second process may use beside a running server."""

    async def run() -> T:
        db = Database(settings.db_path)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    return _run(run())


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant (project) the key belongs to.")],
    role: Annotated[str, typer.Option(help="viewer (read), editor (publish, delete facts) or admin.")],
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    try:
        spec = KeySpec(tenant=tenant, role=role, name=name)
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: --{first['loc'][0]}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    settings = _settings(config, data_dir)
    key = _with_db(settings, lambda db: keys.create(db, spec.tenant, spec.role, spec.name, "cli"))
    typer.echo(key.model_dump_json(indent=2))
    typer.echo("store the key now: it cannot be shown again", err=True)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List keys (never their secrets)."""
    if tenant is not None:
        tenant = _id_option("--tenant", tenant)
    settings = _settings(config, data_dir)
    found = _with_db(settings, lambda db: keys.listed(db, tenant))
    typer.echo(json.dumps([k.model_dump(mode="json") for k in found], indent=2))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key; a running server refuses it from the next request on."""
    settings = _settings(config, data_dir)
    key = _with_db(settings, lambda db: keys.revoke(db, key_id, actor="cli"))
    typer.echo(key.model_dump_json(indent=2))
