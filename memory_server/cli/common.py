"""What every command shares: loading settings, running async work, scoping to a tenant, and ids held to
the rule every door applies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError

from memory_server.access import Access
from memory_server.config import ConfigError, Settings, load_settings
from memory_server.context import Scope
from memory_server.errors import Misconfigured, ServiceError, problem
from memory_server.schemas import Identifier
from memory_server.service import MemoryService
from memory_server.store import migrations
from memory_server.store.db import Database

T = TypeVar("T")


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (else $MEMORY_SERVER_CONFIG).")
]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Where SQLite and Chroma live.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="The tenant the user belongs to (default: the settings' tenant).")
]


def id_option(option: str, value: str) -> str:
    """An id named on the command line, held to the rule every door applies (`schemas.Identifier`)."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        typer.echo(f"error: {option}: {problem(exc.errors()[0])}", err=True)
        raise typer.Exit(2) from None


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def settings_from(config: Path | None, data_dir: Path | None = None, **server: object) -> Settings:
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


ProjectOption = Annotated[
    int | None, typer.Option("--project", min=1, help="The tenant's project the user is in (default: 1).")
]


def scope_for(settings: Settings, tenant: str | None) -> Scope:
    """An operator at the console acts as admin of the tenant named (else the settings' tenant)."""
    return Scope(settings.tenant if tenant is None else id_option("--tenant", tenant), "cli")


async def scope_in(service: MemoryService, settings: Settings, tenant: str | None, project: int | None) -> Scope:
    """`scope_for`, in the tenant's project `project` (which must exist)."""
    return await service.projects.enter(scope_for(settings, tenant), project, field="--project")


def new_database(settings: Settings) -> Path | None:
    """The SQLite file the settings name when it does not exist yet (opening it would make an empty one)."""
    url = settings.storage.url
    if url is None:
        path = settings.db_path
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
    else:
        return None
    return None if path.exists() else path


def require_database(settings: Settings) -> None:
    """Exit 1 before a command that reads stored data opens a database that is not there: a mistyped --data-dir
    would otherwise answer from a new, empty SQLite file and leave it behind, and opening a PostgreSQL database
    with no schema yet would create the schema."""
    path = new_database(settings)
    if path is not None:
        typer.echo(
            f"error: no database at {path}: check --data-dir (or data_dir / storage.url in the config)", err=True
        )
        raise typer.Exit(1)
    db = settings.database()
    if db.shared and run_async(db.recorded_migrations()) is None:
        typer.echo(
            f"error: the database {db!r} has no schema yet (check storage.url): `memory-server serve` creates it "
            "at its first start, `memory-server migrate --from sqlite:///… --to postgresql://…` copies a SQLite "
            "deployment into it",
            err=True,
        )
        raise typer.Exit(1)


async def _current_schema(db: Database) -> None:
    """Refuse a database whose schema an older build left: only `serve`, `worker` and `mcp` upgrade it, so that a
    command run beside the older build's processes (`keys list` before their restart) never changes the schema under
    them. A new database is made as before; one a newer build migrated is refused."""
    recorded = await db.recorded_migrations()
    if recorded is None:
        return
    migrations.check_known(recorded)
    if pending := migrations.behind(recorded):
        raise Misconfigured(
            f"the database {db!r} has the schema of an older memory-server ({len(pending)} migrations to apply, "
            f"{pending[0]} first): stop every process of the older build, then start `memory-server serve` (or "
            "`worker`) of this one, which upgrades it, and run this command again",
            field="storage",
        )


def as_operator(settings: Settings, work: Callable[[Access, Scope], Awaitable[T]], tenant: str | None = None) -> T:
    """Act through the same access rules as the server, as an operator (admin of `tenant`, recorded as `cli`),
    beside a running server: keys and projects need only the database."""

    async def acting() -> T:
        await _current_schema(settings.database())
        async with Access.opened(settings) as access:
            return await work(access, Scope(tenant or settings.tenant, "cli"))

    return run_async(acting())


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; an error the user can act on ends it with its message and exit code 1."""
    try:
        return asyncio.run(work)
    except ServiceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def with_service(settings: Settings, work: Callable[[MemoryService], Awaitable[T]], *, rebuilding: bool = False) -> T:
    """Open the data directory (no server may hold it), do the work, close; `rebuilding`: see `lifecycle.open_core`."""

    async def opened() -> T:
        await _current_schema(settings.database())
        service = await MemoryService.open(settings, rebuilding=rebuilding)
        try:
            return await work(service)
        finally:
            await service.close()

    return run_async(opened())
