"""Who may call, and as whom: API keys and their roles, open mode on loopback, rate limits.

Every door asks here: the HTTP API and MCP over HTTP read the key from the same headers (`api_key`), the
service checks it (`Access.authenticate`), and the CLI manages keys through the same methods while a
server runs, because `Access` needs only the database (`Access.opened`), not the data directory's lock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

from memory_server import keys, projects, timeutil
from memory_server.config import Settings
from memory_server.context import Scope
from memory_server.errors import NotFound, Unauthorized, Unavailable
from memory_server.models import ApiKey, KeyState, NewApiKey, Role
from memory_server.projects import Projects
from memory_server.ratelimit import RateLimiter
from memory_server.store import keys as keysql
from memory_server.store import signouts
from memory_server.store.db import Database

log = logging.getLogger(__name__)


#: How long a console session's cookie lasts (since the last page that renewed it).
SESSION_SECONDS = 12 * 3600
AUTH_SCHEMES = ("bearer", "token")  # Token: mem0's clients send `Authorization: Token <key>`


def api_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer <key>` (or `Token <key>`) or `X-API-Key: <key>`."""
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    if scheme.lower() in AUTH_SCHEMES:
        return secret.strip() or None
    return headers.get("x-api-key") or None


class Access:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        limits = settings.limits
        self._limiter = RateLimiter(limits.requests_per_minute, db=db)
        self._auth_failures = RateLimiter(limits.auth_failures_per_minute, "requests with a wrong API key", db=db)
        self.projects = Projects(db)

    @classmethod
    @asynccontextmanager
    async def opened(cls, settings: Settings) -> AsyncIterator[Access]:
        """Keys alone, from SQLite, which another process may use beside a running server."""
        db = settings.database()
        await db.open()
        try:
            yield cls(db, settings)
        finally:
            await db.close()

    async def authenticate(
        self, secret: str | None, client: str | None = None, *, counted: bool = True, project: str | None = None
    ) -> Scope:
        """The scope of an API key, in the project the `X-Project-Id` header names (`project`) or else the key's;
        with no keys ever made, the local tenant, open (see check_exposure).

        Wrong keys are limited per client address (`client`), so guessing costs time. `counted=False` checks
        the key without spending its rate limit (for a gate in front of calls that are counted themselves).
        """
        project_id = projects.parse_header(project)
        return await self.projects.enter(await self._caller(secret, client, counted), project_id)

    async def sweep(self) -> None:
        """Forget idle rate-limit buckets (kept in the database when processes share one)."""
        await self._limiter.sweep()
        await self._auth_failures.sweep()
        await signouts.sweep(self.db, timeutil.now())

    async def resume(self, key_id: str | None, client: str | None, session: str) -> Scope:
        """The scope of console session `session` signed in earlier with key `key_id` (None: signed in openly),
        checked again on each request: signing out, a revoked key, or keys made since an open sign-in end it."""
        if await signouts.signed_out(self.db, session):
            raise Unauthorized("this console session was signed out: sign in again")
        if key_id is None:
            return await self._caller(None, client, True)
        key = await keysql.live_by_id(self.db, key_id)
        if key is None:
            raise Unauthorized("the API key this session signed in with was revoked: sign in again")
        await self._limiter.take(key.id)
        return self._scope_of(key)

    async def sign_out(self, session: str) -> None:
        """End console session `session` wherever its cookie is (a copy of it is refused from now on)."""
        await signouts.record(self.db, session, timeutil.now() + timedelta(seconds=SESSION_SECONDS))

    async def sign_in(self, secret: str | None, client: str | None) -> str | None:
        """The id of the key a console session signs in with; None when the server is open and none is needed."""
        if secret:
            return (await self._key(secret, client, True)).id
        await self._caller(None, client, True)
        return None

    async def _key(self, secret: str, client: str | None, counted: bool) -> ApiKey:
        key = await keys.authenticate(self.db, secret)
        if key is None:  # a valid key is never refused for the wrong ones sent from its address (a shared NAT)
            address = client or "unknown"
            await self._auth_failures.check(address)
            await self._auth_failures.take(address)
            raise Unauthorized("the API key is not valid or was revoked")
        if counted:
            await self._limiter.take(key.id)
        return key

    def _scope_of(self, key: ApiKey) -> Scope:
        if key.project_id is None:
            return Scope(key.tenant_id, f"key:{key.id}", key.role)
        return Scope(key.tenant_id, f"key:{key.id}", key.role, key.project_id, pinned=True)

    async def _caller(self, secret: str | None, client: str | None, counted: bool) -> Scope:
        if secret:
            return self._scope_of(await self._key(secret, client, counted))
        state = await keys.state(self.db)
        if not self._serves_openly(state):
            raise Unauthorized(
                "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"
                + ("" if state == "active" else " (every key was revoked: create one with `memory-server keys create`)")
            )
        return Scope(self.settings.tenant, "local", "admin")

    async def check_exposure(self) -> None:
        """Refuse to serve openly (no keys) on anything but a loopback address, unless told to; record an
        operator's explicit reopening of a data directory whose keys were all revoked."""
        server = self.settings.server
        state = await keys.state(self.db)
        opens = self._serves_openly(state)
        if opens and not (server.insecure or server.on_loopback):
            raise Unavailable(
                f"refusing to serve without API keys on {server.host}: create one with "
                "`memory-server keys create --tenant T --role admin`, listen on 127.0.0.1, or pass --insecure"
            )
        if opens and state == "revoked":
            log.warning("serving WITHOUT API keys although this data directory had keys (allow_open is set)")
            await keys.record_open_mode(self.db, self.settings.tenant, "operator:start-up")

    def _serves_openly(self, state: KeyState) -> bool:
        """No key was ever made, or every key was revoked and an operator reopened the server on purpose."""
        return state == "never" or (state == "revoked" and self.settings.server.allow_open)

    async def create_key(
        self, scope: Scope, role: Role, name: str | None = None, project_id: int | None = None
    ) -> NewApiKey:
        """A new key for the caller's tenant, limited to `project_id` when given (a limited caller's keys are
        limited to its project); its secret is shown only in this answer."""
        scope.require("admin")
        if project_id is not None:
            await self.projects.enter(scope, project_id, field="project_id")
        elif scope.pinned:
            project_id = scope.project_id
        return await keys.create(self.db, scope.tenant_id, role, name, scope.actor, project_id)

    async def list_keys(self, scope: Scope, *, every_tenant: bool = False) -> list[ApiKey]:
        """The caller's tenant's keys (never their secrets; a key limited to a project: that project's); an
        operator at the CLI may list every tenant's."""
        scope.require("admin")
        found = await keys.listed(self.db, None if every_tenant else scope.tenant_id)
        return [k for k in found if k.project_id == scope.project_id] if scope.pinned else found

    async def revoke_key(self, scope: Scope, key_id: str, *, any_tenant: bool = False) -> ApiKey:
        """Revoke a key of the caller's tenant (an operator at the CLI: of any tenant; a key limited to a project:
        of that project); it stops working at once."""
        scope.require("admin")
        if scope.pinned and key_id not in {k.id for k in await self.list_keys(scope)}:
            raise NotFound(f"key_id: no key {key_id}", field="key_id")
        return await keys.revoke(self.db, key_id, None if any_tenant else scope.tenant_id, scope.actor)
