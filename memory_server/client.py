"""A small client for chat apps: fetch what the server knows before a turn, publish the turn after it.

One implementation: `AsyncMemoryClient` does the HTTP work; `MemoryClient` is a blocking wrapper that runs it
on a private event loop (`asyncio.Runner`), so sync apps get the same behaviour without a second copy of
every request. A sans-IO core was the alternative; it would still need each method written twice (a sync and
an async shell), while the wrapper needs one line per method and keeps one loop, so connections are reused.

    with MemoryClient("http://127.0.0.1:8765") as memory:
        system_prompt += memory.context_for_turn("ana", user_message, max_tokens=300)
        ...
        memory.publish_turn("ana", [{"role": "user", "content": user_message},
                                    {"role": "assistant", "content": reply}])
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from memory_server.models import Fact, Job, ProfileResponse, SearchResults
from memory_server.prompt_context import render_profile

DEFAULT_URL = "http://127.0.0.1:8765"
T = TypeVar("T")


class MemoryServerError(Exception):
    """The server refused a request; `code`, `message` and `field` come from its JSON error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class AsyncMemoryClient:
    """The HTTP API of a memory server, for asyncio chat apps (and the MCP proxy).

    `project`: the tenant's project every call acts in (sent as `X-Project-Id`; default: the key's, else 1).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        project: int | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if project is not None:
            headers["X-Project-Id"] = str(project)
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        wait: bool = False,
    ) -> httpx.Response:
        """Send one request; a 4xx/5xx answer raises MemoryServerError. `wait` lifts the read timeout."""
        timeout = httpx.Timeout(self._timeout, read=None) if wait else httpx.USE_CLIENT_DEFAULT
        response = await self._http.request(method, path, json=json, params=params, timeout=timeout)
        if response.is_error:
            raise _error(response)
        return response

    async def context_for_turn(self, user_id: str, message: str, max_tokens: int | None = None) -> str:
        """A text block to put in the system prompt: what is known about the user, most relevant to `message` first.

        Relevant past messages come with the date they were said. `max_tokens` bounds the facts and messages (a few
        more tokens go to the headings); an empty string means nothing is known yet.
        """
        profile = await self.profile(user_id, q=message.strip() or None, max_tokens=max_tokens)
        return render_context(profile)

    async def publish_turn(
        self,
        user_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        session_id: str | None = None,
        source: str | None = None,
        wait: bool = False,
    ) -> Job:
        """Store a turn's messages (`{"role", "content"}` dicts, e.g. OpenAI-style); facts are extracted from them.

        Other keys of each message are left out, so chat-app message objects can be passed as they are. With
        `wait`, the answer comes when extraction is done and carries `changes`.
        """
        body: dict[str, Any] = {
            "user_id": user_id,
            "messages": [_message(m) for m in messages],
            "wait": wait,
        }
        body.update(_given(session_id=session_id, source=source))
        response = await self.request("POST", "/v1/interactions", json=body, wait=wait)
        return Job.model_validate_json(response.content)

    async def profile(
        self,
        user_id: str,
        *,
        q: str | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        max_tokens: int | None = None,
    ) -> ProfileResponse:
        body = {"user_id": user_id, **_given(q=q, threshold=threshold, top_k=top_k, max_tokens=max_tokens)}
        return ProfileResponse.model_validate_json((await self.request("POST", "/v1/profile", json=body)).content)

    async def search(self, user_id: str, query: str, **options: Any) -> SearchResults:
        """Hybrid search over the user's facts and episodes; `options` are the /v1/search fields (threshold, top_k,
        types, roles, kind...)."""
        body = {"user_id": user_id, "query": query, **_given(**options)}
        return SearchResults.model_validate_json((await self.request("POST", "/v1/search", json=body)).content)

    async def add_fact(self, user_id: str, content: str, **options: Any) -> Fact:
        """Store one fact stated explicitly (kind, ttl_seconds, source, attributes, confidence as options)."""
        body = {"user_id": user_id, "content": content, **_given(**options)}
        return Fact.model_validate_json((await self.request("POST", "/v1/facts", json=body)).content)


class MemoryClient:
    """The blocking version of AsyncMemoryClient, for sync chat apps (in async code use AsyncMemoryClient)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        project: int | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self._client = AsyncMemoryClient(
            base_url, api_key=api_key, project=project, timeout=timeout, transport=transport
        )

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    def context_for_turn(self, user_id: str, message: str, max_tokens: int | None = None) -> str:
        return self._run(self._client.context_for_turn(user_id, message, max_tokens))

    def publish_turn(
        self,
        user_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        session_id: str | None = None,
        source: str | None = None,
        wait: bool = False,
    ) -> Job:
        return self._run(self._client.publish_turn(user_id, messages, session_id=session_id, source=source, wait=wait))

    def profile(self, user_id: str, **options: Any) -> ProfileResponse:
        return self._run(self._client.profile(user_id, **options))

    def search(self, user_id: str, query: str, **options: Any) -> SearchResults:
        return self._run(self._client.search(user_id, query, **options))

    def add_fact(self, user_id: str, content: str, **options: Any) -> Fact:
        return self._run(self._client.add_fact(user_id, content, **options))


def render_context(profile: ProfileResponse) -> str:
    """The profile as a block of text for a system prompt; empty when there is nothing to say."""
    return render_profile(profile.model_dump(mode="json"))


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    kept = {"role": message.get("role"), "content": message.get("content")}
    created_at = message.get("created_at")
    if created_at is not None:
        kept["created_at"] = created_at.isoformat() if isinstance(created_at, datetime) else created_at
    return kept


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _error(response: httpx.Response) -> MemoryServerError:
    try:
        body = response.json()["error"]
        return MemoryServerError(response.status_code, body["code"], body["message"], body.get("field"))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return MemoryServerError(response.status_code, "http_error", f"HTTP {response.status_code}: {text}")
