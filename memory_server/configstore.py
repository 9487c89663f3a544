"""The operator-editable extraction config, versioned per tenant.

Version 0 is the `extraction` section of the settings; every accepted change is stored as the next
version with its actor and time, and each extracted fact records the version that produced it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import AliasChoices

from extractors.registry import available
from memory_server import timeutil
from memory_server.config import ExtractionConfig
from memory_server.errors import InvalidInput, NotFound
from memory_server.models import ConfigVersion
from memory_server.store import configs as configsql
from memory_server.store.db import Connection, Database

_ALIASES = {
    alias: name
    for name, info in ExtractionConfig.model_fields.items()
    if isinstance(info.validation_alias, AliasChoices)
    for alias in info.validation_alias.choices
    if isinstance(alias, str)
}
_ACCEPTED = set(ExtractionConfig.model_fields) | set(_ALIASES)
_SECTIONS = {"episodes", "signals"}
#: How stale another process's config update may be here, on a shared database.
RECHECK_SECONDS = 1.0


def _canonical(changes: dict[str, Any]) -> dict[str, Any]:
    """Older setting names (profile_content_definition_prompt, ...) map onto the current ones."""
    return {_ALIASES.get(key, key): value for key, value in changes.items()}


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` over `current`; a section given as an object (episodes, signals) keeps the keys it leaves out."""
    merged = dict(current)
    for key, value in _canonical(changes).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in _SECTIONS:
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class ConfigStore:
    def __init__(self, db: Database, defaults: ExtractionConfig) -> None:
        self.db = db
        self.defaults = defaults
        self._active: dict[str, tuple[int, ExtractionConfig]] = {}
        self._checked: dict[str, float] = {}  # time.monotonic() of each tenant's last look at the newest version

    def initial(self) -> ConfigVersion:
        """Version 0: the `extraction` section of the settings."""
        return ConfigVersion(version=0, config=self.defaults.model_dump(), actor="settings", created_at=timeutil.now())

    async def in_force(self, conn: Connection, tenant_id: str) -> ExtractionConfig:
        """The config in force, read inside the caller's transaction (what it stores is checked against the
        config no update can change before it commits)."""
        return ExtractionConfig.model_validate((await configsql.latest_in(conn, tenant_id) or self.initial()).config)

    async def current(self, tenant_id: str) -> ConfigVersion:
        latest = await configsql.history(self.db, tenant_id, 1)
        return latest[0] if latest else self.initial()

    async def version(self, tenant_id: str, version: int) -> ConfigVersion:
        """One stored version (0: the settings file's)."""
        found = self.initial() if version == 0 else await configsql.get(self.db, tenant_id, version)
        if found is None:
            raise NotFound(f"version: no config version {version}", field="version")
        return found

    async def history(self, tenant_id: str, limit: int) -> list[ConfigVersion]:
        return await configsql.history(self.db, tenant_id, limit)

    async def update(
        self,
        tenant_id: str,
        actor: str,
        changes: dict[str, Any],
        check: Callable[[Connection, ExtractionConfig], Awaitable[None]],
    ) -> ConfigVersion:
        """Merge `changes` into the current config, validate the whole (and with `check`, in the transaction that
        stores it, so what it reads cannot change meanwhile), store the next version; when that changes nothing,
        no version is stored and the current one is the answer."""
        unknown = sorted(set(changes) - _ACCEPTED)
        if unknown:
            raise InvalidInput(f"{unknown[0]}: unknown setting", field=unknown[0])
        now = timeutil.now()
        async with self.db.transaction() as conn:  # read and write under the writer lock: no lost update
            current = await configsql.latest_in(conn, tenant_id) or self.initial()
            merged = ExtractionConfig.model_validate(_merged(current.config, changes))
            if merged.extractor not in available():
                names = ", ".join(available())
                raise InvalidInput(
                    f"extractor: unknown extractor {merged.extractor!r}: choose one of {names}", field="extractor"
                )
            await check(conn, merged)
            if merged == ExtractionConfig.model_validate(current.config):
                return current
            await configsql.insert(conn, tenant_id, current.version + 1, merged.model_dump_json(), actor, now)
        self._active.pop(tenant_id, None)
        return ConfigVersion(version=current.version + 1, config=merged.model_dump(), actor=actor, created_at=now)

    async def active(self, tenant_id: str) -> tuple[int, ExtractionConfig]:
        """The current version and config, cached until the next update: this process's own at once, another
        process's on a shared database within `RECHECK_SECONDS` (the newest version's number, one indexed read,
        tells; read at most that often per tenant, not on every profile)."""
        cached = self._active.get(tenant_id)
        if (
            cached is not None
            and self.db.shared
            and time.monotonic() - self._checked.get(tenant_id, 0) > RECHECK_SECONDS
        ):
            if cached[0] != await configsql.latest_version(self.db, tenant_id):
                cached = None
            self._checked[tenant_id] = time.monotonic()
        if cached is None:
            current = await self.current(tenant_id)
            cached = (current.version, ExtractionConfig.model_validate(current.config))
            self._active[tenant_id] = cached
            self._checked[tenant_id] = time.monotonic()
        return cached
