"""Moving a SQLite deployment to PostgreSQL (`memory-server migrate`): every row, with its id, then checked.

The copy reads one SQLite snapshot (a write transaction on the source, so nothing changes under it) and writes
it in one PostgreSQL transaction: the target ends with all of it or none of it. Ids are kept, because they are
already out there (message ids in change-log rows and webhooks, delivery ids in callers' hands); each identity
sequence is then moved past the highest id copied, so new rows never collide. `facts` and `jobs` keep their
SQLite rowid as PostgreSQL's `rowid` column, the insertion order those tables are read in.

The tables the triggers on `users` fill (`user_attributes`, `user_counts`) are rebuilt by the target's own
triggers as users are copied, and `_migrations` is the target's own record. A source table the copier does not
know is an error, not a silent gap: a later migration that adds a table must add it to `TABLES` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from memory_server.store.db import Connection, ConstraintError, Row, marks
from memory_server.store.postgres import PostgresDatabase
from memory_server.store.sqlite import SqliteDatabase

#: Rows per INSERT batch, and the sampled rows per table the check compares.
BATCH = 1_000
SAMPLE = 100


@dataclass(frozen=True)
class Table:
    name: str
    #: Its primary key, by which sampled rows are found on the target.
    key: tuple[str, ...]
    #: SQLite's implicit rowid is copied too (PostgreSQL's `rowid` column).
    rowid: bool = False


#: Every table copied, each after the tables its foreign keys name.
TABLES: tuple[Table, ...] = (
    Table("messages", ("id",)),
    Table("jobs", ("request_id",), rowid=True),
    Table("facts", ("id",), rowid=True),
    Table("fact_vectors", ("fact_id",)),
    Table("vector_ops", ("id",)),
    Table("changelog", ("id",)),
    Table("config_versions", ("tenant_id", "version")),
    Table("api_keys", ("id",)),
    Table("projects", ("tenant_id", "id")),
    Table("message_vectors", ("message_id",)),
    Table("episodes_fts", ("rowid",), rowid=True),
    Table("webhooks", ("id",)),
    Table("webhook_events", ("id",)),
    Table("webhook_deliveries", ("id",)),
    Table("users", ("tenant_id", "user_id")),
    Table("message_signals", ("message_id",)),
    Table("segments", ("id",)),
    Table("segment_members", ("segment_id", "user_id")),
    Table("consent", ("tenant_id", "user_id")),
    Table("retrieval_log", ("id",)),
    Table("console_signouts", ("session",)),
)

#: Filled on the target by its triggers on `users`; compared, not copied.
DERIVED = ("user_attributes", "user_counts")

#: Source tables with nothing to copy: the migration record, FTS5's vocabulary and storage of `episodes_fts`, the
#: rate-limit buckets (a SQLite deployment keeps them in memory; the table is empty), the users' revisions with
#: their clock (the target's triggers give every copied user a revision of the target's clock), which users the
#: vector index holds (the target's index may be another one: the first search of a large user asks for it again)
#: and the chores left for the source's next start (about the source's index).
NOT_COPIED = frozenset(
    {
        "_migrations",
        "chores",
        "indexed_users",
        "rate_buckets",
        "revision_clock",
        "user_revisions",
        "episodes_terms",
        "episodes_fts_config",
        "episodes_fts_content",
        "episodes_fts_data",
        "episodes_fts_docsize",
        "episodes_fts_idx",
    }
)


class CopyError(Exception):
    """The copy cannot start or did not finish; the target is left as it was. The message names the option
    (`--from`, `--to`) at fault where there is one."""


@dataclass
class Count:
    table: str
    source: int
    target: int


@dataclass
class CopyReport:
    counts: list[Count]
    #: What the check found different: a count, a sampled row missing or unequal.
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class _Snapshot:
    """What the check compares the target with, read from the same source snapshot as the copy."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    user_counts: list[tuple[Any, ...]] = field(default_factory=list)


async def copy_sqlite_to_postgres(
    source: Path, target_url: str, *, batch: int = BATCH, sample: int = SAMPLE
) -> CopyReport:
    """Copy the SQLite database at `source` (migrated to the latest schema first) into the empty PostgreSQL
    database `target_url` (its schema created if missing), then compare counts and a sample of rows."""
    if not source.is_file():
        raise CopyError(f"--from: no SQLite database at {source}")
    src = SqliteDatabase(source)
    await src.open()
    try:
        dst = PostgresDatabase(target_url, pool_size=2)
        await _reachable(dst)
        try:
            await dst.open()
        except psycopg.Error as exc:
            raise CopyError(f"--to: cannot create the schema in {dst!r}: {_first_line(exc)}") from None
        try:
            columns = await _columns(src, dst)
            snapshot = await _copy(src, dst, columns, batch, sample)
            return await _check(dst, columns, snapshot)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _reachable(dst: PostgresDatabase) -> None:
    """One plain connection first: the pool would retry a wrong URL for its whole timeout."""
    try:
        conn = await psycopg.AsyncConnection.connect(dst.url, connect_timeout=10)
    except psycopg.Error as exc:
        raise CopyError(f"--to: cannot connect to {dst!r}: {_first_line(exc)}") from None
    await conn.close()


async def _columns(src: SqliteDatabase, dst: PostgresDatabase) -> dict[str, list[str]]:
    """The columns copied per table; an unknown source table, or columns the engines disagree on, stop the copy."""
    found = {
        r["name"]
        for r in await src.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    unknown = sorted(found - {t.name for t in TABLES} - set(DERIVED) - NOT_COPIED)
    if unknown:
        raise CopyError(
            f"the source holds tables this version cannot copy: {', '.join(unknown)} (memory_server.store.copy.TABLES)"
        )
    columns = {}
    for table in TABLES:
        ours = [
            r["name"] for r in await src.fetchall("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table.name,))
        ]
        if table.rowid:
            ours.insert(0, "rowid")
        theirs = {
            r["column_name"]
            for r in await dst.fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ? AND is_generated = 'NEVER'",
                (table.name,),
            )
        }
        if set(ours) != theirs:
            raise CopyError(
                f"{table.name}: the engines' columns differ (only in SQLite: {sorted(set(ours) - theirs)}, "
                f"only in PostgreSQL: {sorted(theirs - set(ours))})"
            )
        columns[table.name] = ours
    return columns


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _order(table: Table) -> str:
    return "rowid" if table.rowid else _names(table.key)


async def _copy(
    src: SqliteDatabase, dst: PostgresDatabase, columns: dict[str, list[str]], batch: int, sample: int
) -> _Snapshot:
    snapshot = _Snapshot()
    async with src.transaction() as reading, dst.transaction() as writing:
        await _refuse_data(writing)
        for table in TABLES:
            names = columns[table.name]
            insert = f"INSERT INTO {table.name} ({_names(names)}) VALUES ({marks(names)})"
            cursor = await reading.execute(f"SELECT {_names(names)} FROM {table.name} ORDER BY {_order(table)}")
            try:
                while rows := await cursor.fetchmany(batch):
                    await writing.executemany(insert, [tuple(r) for r in rows])
            except (ConstraintError, psycopg.Error) as exc:
                raise CopyError(f"copying {table.name}: {_first_line(exc)}; nothing was copied") from None
            finally:
                await cursor.close()
            counted = await reading.execute_fetchall(f"SELECT count(*) FROM {table.name}")
            snapshot.counts[table.name] = counted[0][0]
            picked = await reading.execute_fetchall(
                f"SELECT {_names(names)} FROM {table.name} ORDER BY random() LIMIT ?", (sample,)
            )
            snapshot.samples[table.name] = [tuple(r) for r in picked]
        for name in DERIVED:
            counted = await reading.execute_fetchall(f"SELECT count(*) FROM {name}")
            snapshot.counts[name] = counted[0][0]
        snapshot.user_counts = [
            tuple(r)
            for r in await reading.execute_fetchall(
                "SELECT tenant_id, users FROM user_counts WHERE users > 0 ORDER BY tenant_id"
            )
        ]
        await _advance_sequences(writing)
    return snapshot


async def _refuse_data(conn: Connection) -> None:
    """Inside the target's write transaction, so no process writes between the check and the copy."""
    tables = [t.name for t in TABLES] + list(DERIVED)
    rows = await conn.execute_fetchall(
        " UNION ALL ".join(f"SELECT '{name}' AS name FROM (SELECT 1 FROM {name} LIMIT 1) AS any_row" for name in tables)
    )
    if rows:
        names = [r["name"] for r in rows]
        held = ", ".join(names[:3]) + (f" and {len(names) - 3} more tables" if len(names) > 3 else "")
        raise CopyError(f"--to: the target database already holds data (in {held}); give it an empty database")


async def _advance_sequences(conn: Connection) -> None:
    """Each identity column's next value past the highest id copied (1 for an empty table)."""
    identities = await conn.execute_fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for r in identities:
        table, column = r["table_name"], r["column_name"]
        await conn.execute(
            f'SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max("{column}"), 0) + 1, false) FROM {table}',
            (table, column),
        )


async def _check(dst: PostgresDatabase, columns: dict[str, list[str]], snapshot: _Snapshot) -> CopyReport:
    """Counts of every table, and the sampled rows, on the committed target against the source snapshot."""
    report = CopyReport(counts=[])
    for name, expected in snapshot.counts.items():
        row = await dst.fetchone(f"SELECT count(*) FROM {name}")
        found = int(row[0]) if row is not None else 0
        report.counts.append(Count(name, expected, found))
        if found != expected:
            report.mismatches.append(f"{name}: {expected} rows in SQLite, {found} in PostgreSQL")
    kept = [
        tuple(r)
        for r in await dst.fetchall("SELECT tenant_id, users FROM user_counts WHERE users > 0 ORDER BY tenant_id")
    ]
    if kept != snapshot.user_counts:
        report.mismatches.append(f"user_counts: {snapshot.user_counts} in SQLite, {kept} in PostgreSQL")
    for table in TABLES:
        report.mismatches.extend(await _compare_sample(dst, table, columns[table.name], snapshot.samples[table.name]))
    return report


async def _compare_sample(
    dst: PostgresDatabase, table: Table, names: list[str], rows: list[tuple[Any, ...]]
) -> list[str]:
    if not rows:
        return []
    at = [names.index(k) for k in table.key]
    keys = [tuple(row[i] for i in at) for row in rows]
    one = f"({marks(table.key)})"
    found: list[Row] = await dst.fetchall(
        f"SELECT {_names(names)} FROM {table.name} WHERE ({_names(table.key)}) IN ({', '.join([one] * len(keys))})",
        [value for key in keys for value in key],
    )
    stored = {tuple(r[i] for i in at): tuple(r) for r in found}
    wrong = [key for key, row in zip(keys, rows, strict=True) if stored.get(key) != row]
    if not wrong:
        return []
    return [f"{table.name}: {len(wrong)} of {len(rows)} sampled rows missing or different (first: {wrong[0]})"]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
