"""The memory over a running server's HTTP API: what `memory-server mcp --url` uses instead of a data directory.

The remote server decides the tenant and role from the API key the client sends, so the scope passed in is not
sent; its errors come back as the same `ServiceError` messages an in-process service raises.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from memory_server.client import AsyncMemoryClient, MemoryServerError
from memory_server.context import Scope
from memory_server.errors import ServiceError, Unavailable
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


class RemoteMemory:
    def __init__(self, client: AsyncMemoryClient) -> None:
        self.client = client

    async def ingest(self, scope: Scope, body: InteractionIn) -> tuple[Job, bool]:
        response = await self._send("POST", "/v1/interactions", body=body, wait=body.wait)
        return Job.model_validate_json(response.content), response.headers.get("x-duplicate-request") == "true"

    async def add_fact(self, scope: Scope, body: FactIn) -> StatedFact:
        response = await self._send("POST", "/v1/facts", body=body)
        fact = Fact.model_validate_json(response.content)
        return StatedFact(fact=fact, created=response.status_code == 201, request_id=response.headers["x-request-id"])

    async def profile(self, scope: Scope, body: ProfileIn) -> ProfileResponse:
        return ProfileResponse.model_validate_json((await self._send("POST", "/v1/profile", body=body)).content)

    async def profile_sections(self, scope: Scope, user_id: str, sections: list[str] | None = None) -> UnifiedProfile:
        params = None if sections is None else {"sections": ",".join(sections)}
        response = await self._send("GET", f"/v1/users/{quote(user_id, safe='')}/profile", params=params)
        return UnifiedProfile.model_validate_json(response.content)

    async def search(self, scope: Scope, body: SearchIn) -> SearchResults:
        return SearchResults.model_validate_json((await self._send("POST", "/v1/search", body=body)).content)

    async def fact(self, scope: Scope, fact_id: str) -> Fact:
        return Fact.model_validate_json((await self._send("GET", f"/v1/facts/{quote(fact_id, safe='')}")).content)

    async def delete_fact(
        self, scope: Scope, fact_id: str, user_id: str | None = None, *, with_sources: bool = False
    ) -> tuple[Fact, list[Episode]]:
        said: list[Episode] = []
        if with_sources:  # the answer names them by id only: read them while they are there
            for message_id in (await self.fact(scope, fact_id)).message_ids:
                try:
                    said.append(
                        Episode.model_validate_json((await self._send("GET", f"/v1/episodes/{message_id}")).content)
                    )
                except ServiceError as exc:
                    if exc.status != 404:
                        raise
        params = {"user_id": user_id} if user_id is not None else {}
        if with_sources:
            params["with_sources"] = "true"
        response = await self._send("DELETE", f"/v1/facts/{quote(fact_id, safe='')}", params=params or None)
        gone = {int(i) for i in response.headers.get("x-deleted-episodes", "").split(",") if i}
        return Fact.model_validate_json(response.content), [e for e in said if e.message_id in gone]

    async def delete_episode(self, scope: Scope, message_id: int, user_id: str | None = None) -> Episode:
        params = {"user_id": user_id} if user_id is not None else None
        response = await self._send("DELETE", f"/v1/episodes/{message_id}", params=params)
        return Episode.model_validate_json(response.content)

    async def delete_by_query(self, scope: Scope, body: DeleteByQueryIn) -> tuple[list[Fact], list[Episode]]:
        answer = (await self._send("POST", "/v1/facts/delete", body=body)).json()
        return [Fact.model_validate(f) for f in answer["deleted"]], [
            Episode.model_validate(e) for e in answer["episodes"]
        ]

    async def changes(self, scope: Scope, flt: ChangelogFilter) -> Page[Change]:
        response = await self._send("GET", "/v1/changelog", params=flt.model_dump(mode="json", exclude_none=True))
        return Page[Change].model_validate_json(response.content)

    async def request_changes(self, scope: Scope, request_id: str) -> RequestChanges:
        response = await self._send("GET", f"/v1/requests/{quote(request_id, safe='')}/changes")
        return RequestChanges.model_validate_json(response.content)

    async def config(self, scope: Scope) -> ConfigVersion:
        return ConfigVersion.model_validate_json((await self._send("GET", "/v1/config")).content)

    async def update_config(self, scope: Scope, changes: dict[str, Any]) -> ConfigVersion:
        return ConfigVersion.model_validate_json((await self._send("PUT", "/v1/config", json=changes)).content)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        wait: bool = False,
    ) -> httpx.Response:
        if body is not None:
            json = body.model_dump(mode="json", exclude_none=True)
        try:
            return await self.client.request(method, path, json=json, params=params, wait=wait)
        except MemoryServerError as exc:
            error = ServiceError(exc.message, field=exc.field)
            error.status, error.code = exc.status, exc.code
            raise error from None
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach the memory server at {self.client.base_url} ({exc.__class__.__name__}: {exc}): "
                "is `memory-server serve` running there?"
            ) from None
