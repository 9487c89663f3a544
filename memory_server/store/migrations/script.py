"""Running a migration's SQL script inside its transaction."""

from __future__ import annotations

import aiosqlite


async def run_script(db: aiosqlite.Connection, script: str) -> None:
    """Run statements one by one: `executescript` would commit the migration's open transaction."""
    for statement in script.split(";\n"):
        if statement.strip():
            await db.execute(statement)
