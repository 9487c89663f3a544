"""Operating on stored data while the server is stopped: reindex, check, export, import, reextract."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.progress import Progress

from memory_server.cli.common import (
    ConfigOption,
    DataDirOption,
    ProjectOption,
    TenantOption,
    id_option,
    require_database,
    scope_in,
    settings_from,
    with_service,
)
from memory_server.errors import Conflict
from memory_server.files import write_whole
from memory_server.service import MemoryService

if TYPE_CHECKING:
    from memory_server.portability import UserExport


def register(app: typer.Typer) -> None:
    app.command()(reindex)
    app.command()(check)
    app.command("export")(export_user)
    app.command("import")(import_user)
    app.command()(reextract)


def reindex(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Rebuild the vector index from SQLite (re-embedding vectors of another model)."""
    settings = settings_from(config, data_dir)
    require_database(settings)
    with Progress() as bar:
        task = bar.add_task("reindexing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = with_service(settings, lambda s: s.reindex(progress), rebuilding=True)
    typer.echo(f"reindexed: {count} live facts and messages searchable")


def check(
    repair: Annotated[bool, typer.Option("--repair", help="Replay what disagrees through the vector outbox.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Verify the vector index against SQLite: missing, orphan and stale vectors, pending operations.

    Prints a JSON report; exits 1 when the index (still) disagrees with SQLite.
    """
    settings = settings_from(config, data_dir)
    require_database(settings)
    report = with_service(settings, lambda s: s.check_index(repair))
    typer.echo(report.model_dump_json(indent=2, exclude_none=True))
    if not report.consistent:
        if not repair:
            typer.echo("the index disagrees with SQLite: run `memory-server check --repair`", err=True)
        raise typer.Exit(1)


def export_user(
    user: Annotated[str, typer.Option("--user", help="The user to export.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    tenant: TenantOption = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write a user's messages, facts and change log as portable JSON."""
    user = id_option("--user", user)
    settings = settings_from(config, data_dir)
    require_database(settings)

    async def run(service: MemoryService) -> UserExport:
        return await service.export_user(await scope_in(service, settings, tenant, project), user)

    data = with_service(settings, run)
    text = data.model_dump_json(indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        try:
            write_whole(out, (text + "\n").encode("utf-8"))
        except OSError as exc:
            typer.echo(f"error: cannot write {out}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {len(data.facts)} facts, {len(data.messages)} messages to {out}", err=True)


def import_user(
    file: Annotated[
        Path, typer.Argument(help="A file written by `memory-server export`.", exists=True, dir_okay=False)
    ],
    tenant: TenantOption = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load a user's export; importing the same file again adds nothing."""
    from memory_server.portability import load_export

    settings = settings_from(config, data_dir)
    try:
        data = load_export(file.read_text(encoding="utf-8"))
    except (ValueError, ValidationError) as exc:
        typer.echo(f"error: {file} is not a memory-server export: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run(service: MemoryService) -> dict[str, int]:
        return await service.import_user(await scope_in(service, settings, tenant, project), data)

    added = with_service(settings, run)
    typer.echo(json.dumps({"user_id": data.user_id, "added": added}))


def reextract(
    user: Annotated[list[str] | None, typer.Option("--user", help="A user to re-extract (repeatable).")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every user with stored messages.")] = False,
    tenant: TenantOption = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Replay users' stored messages through the current extraction config (changes go to the change log)."""
    if bool(user) == all_users:
        typer.echo("error: give --user ID (one or more) or --all", err=True)
        raise typer.Exit(2)
    named = [id_option("--user", u) for u in user or []]
    settings = settings_from(config, data_dir)
    require_database(settings)

    async def run(service: MemoryService) -> tuple[str, list[str], list[str], list[str]]:
        scope = await scope_in(service, settings, tenant, project)
        await service.start()
        users = await service.users_with_messages(scope) if all_users else named
        failed: list[str] = []
        skipped: list[str] = []
        with Progress() as bar:
            task = bar.add_task("re-extracting", total=len(users))
            for user_id in users:
                try:
                    job = await service.reextract(scope, user_id)
                except Conflict:  # marked "do not remember": the users after it still get theirs
                    skipped.append(user_id)
                else:
                    await service.wait(scope, job.request_id)
                    if (await service.request(scope, job.request_id)).status != "done":
                        failed.append(user_id)
                bar.advance(task)
        return scope.space, users, skipped, failed

    space, users, skipped, failed = with_service(settings, run)
    for user_id in skipped:
        typer.echo(f'skipped {user_id}: marked "do not remember"', err=True)
    if failed:
        typer.echo(f"re-extraction did not finish for: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    if not users:
        typer.echo(f"no user of {space} has stored messages: nothing to re-extract")
        return
    done = len(users) - len(skipped)
    typer.echo(f"re-extracted {done} user{'' if done == 1 else 's'}")
