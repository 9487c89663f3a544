"""What the MCP tools need from the memory: the service's own methods, in-process or over HTTP.

`MemoryService` satisfies this protocol as it is; `RemoteMemory` (remote.py) satisfies it over a running
server's HTTP API, for `memory-server mcp --url`. Both raise `ServiceError` for anything a caller can act on.
"""

from __future__ import annotations

from typing import Any, Protocol

from memory_server.context import Scope
from memory_server.models import (
    Change,
    ConfigVersion,
    Episode,
    Fact,
    Job,
    Page,
    ProfileResponse,
    RequestChanges,
    SearchResults,
    StatedFact,
    UnifiedProfile,
)
from memory_server.schemas import ChangelogFilter, DeleteByQueryIn, FactIn, InteractionIn, ProfileIn, SearchIn


class Memory(Protocol):
    async def ingest(self, scope: Scope, body: InteractionIn) -> tuple[Job, bool]: ...

    async def add_fact(self, scope: Scope, body: FactIn) -> StatedFact: ...

    async def profile(self, scope: Scope, body: ProfileIn) -> ProfileResponse: ...

    async def profile_sections(
        self, scope: Scope, user_id: str, sections: list[str] | None = None
    ) -> UnifiedProfile: ...

    async def search(self, scope: Scope, body: SearchIn) -> SearchResults: ...

    async def fact(self, scope: Scope, fact_id: str) -> Fact: ...

    async def delete_fact(
        self, scope: Scope, fact_id: str, user_id: str | None = None, *, with_sources: bool = False
    ) -> tuple[Fact, list[Episode]]: ...

    async def delete_episode(self, scope: Scope, message_id: int, user_id: str | None = None) -> Episode: ...

    async def delete_by_query(self, scope: Scope, body: DeleteByQueryIn) -> tuple[list[Fact], list[Episode]]: ...

    async def changes(self, scope: Scope, flt: ChangelogFilter) -> Page[Change]: ...

    async def request_changes(self, scope: Scope, request_id: str) -> RequestChanges: ...

    async def config(self, scope: Scope) -> ConfigVersion: ...

    async def update_config(self, scope: Scope, changes: dict[str, Any]) -> ConfigVersion: ...
