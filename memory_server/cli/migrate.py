"""Moving a deployment from SQLite to PostgreSQL: `memory-server migrate --from sqlite:///… --to postgresql://…`.

The copy refuses a SQLite file whose folder a running server holds (`datalock`), rather than copying under it:
what the server writes after the copy began would be left behind. It holds that lock while it runs, so no
server starts on the file meanwhile; a file kept outside its server's data directory (`storage.url`) is not
covered by the lock, but the copy reads it in one write transaction, so it is still one consistent state.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from memory_server.datalock import DataDirLock
from memory_server.errors import Unavailable
from memory_server.store.copy import DERIVED, CopyError, CopyReport, copy_sqlite_to_postgres


def register(app: typer.Typer) -> None:
    app.command()(migrate)


def migrate(
    source: Annotated[
        str, typer.Option("--from", help="The SQLite database: sqlite:///relative/path or sqlite:////absolute/path.")
    ],
    target: Annotated[
        str, typer.Option("--to", help="An empty PostgreSQL database: postgresql://user:password@host/db.")
    ],
) -> None:
    """Copy a SQLite deployment into an empty PostgreSQL database, ids included, and check the copy.

    One transaction copies every table (all or nothing); then row counts and a sample of rows are compared.

    Exits 1 on any difference. Stop the server first: a data directory a server holds is refused.
    """
    if not source.startswith("sqlite:///"):
        _fail("--from: give the SQLite database as sqlite:///relative/path or sqlite:////absolute/path", 2)
    if not target.startswith(("postgresql://", "postgres://")):
        _fail("--to: give the PostgreSQL database as postgresql://user:password@host/db", 2)
    path = Path(source.removeprefix("sqlite:///"))
    if not path.is_file():
        _fail(f"--from: no SQLite database at {path}", 2)
    lock = DataDirLock(path.parent)
    try:
        lock.acquire()
    except Unavailable:
        _fail(f"--from: {path.parent} is in use by a running memory-server: stop it, then migrate", 1)
    try:
        report = asyncio.run(copy_sqlite_to_postgres(path, target))
    except CopyError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted: the copy's one transaction was rolled back, nothing was copied; run it again", 130)
    finally:
        lock.release()
    _show(report)
    if not report.ok:
        for mismatch in report.mismatches:
            typer.echo(f"mismatch: {mismatch}", err=True)
        _fail("the copy differs from the source (above); the target holds the copy as made", 1)
    copied = sum(c.source for c in report.counts if c.table not in DERIVED)
    typer.echo(f"copied {copied} rows and checked them; now point storage.url at the PostgreSQL database")


def _show(report: CopyReport) -> None:
    width = max(len(c.table) for c in report.counts)
    typer.echo(f"{'table':<{width}}  {'sqlite':>9}  {'postgresql':>10}")
    for c in report.counts:
        flag = "" if c.source == c.target else "  <- differs"
        typer.echo(f"{c.table:<{width}}  {c.source:>9}  {c.target:>10}{flag}")


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
