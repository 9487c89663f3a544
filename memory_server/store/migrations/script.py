"""Running a migration's SQL script inside its transaction."""

from __future__ import annotations

from memory_server.store.db import Connection


async def run_script(db: Connection, script: str) -> None:
    """Run statements one by one: `executescript` would commit the migration's open transaction."""
    for statement in script.split(";\n"):
        if statement.strip():
            await db.execute(statement)
