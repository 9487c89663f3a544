"""The FastAPI application: lifespan owns the service; routers are thin."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings

from adapters import cipres, kaireon, mem0, reflexio, supermemory
from memory_server import __version__, console
from memory_server.api import errors
from memory_server.api.hosts import HostCheck, allowed_hosts
from memory_server.api.limits import BodySizeLimit
from memory_server.api.mcp_gate import McpKeyGate
from memory_server.api.routes import admin, ingest, memory, operations, segments, users, webhooks
from memory_server.api.timing import RequestTiming
from memory_server.config import Settings
from memory_server.mcp.access import by_api_key
from memory_server.mcp.server import McpState, create_server
from memory_server.service import MemoryService


def create_app(settings: Settings, service: MemoryService | None = None) -> FastAPI:
    """Build the app. Without `service`, it opens on start-up and closes on shutdown; `memory-server serve`
    passes one it has opened itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: AbstractAsyncContextManager[MemoryService] = (
            nullcontext(service) if service is not None else MemoryService.running(settings)
        )
        async with opened as service_:
            app.state.service = service_
            gc.freeze()  # start-up objects are long-lived: keep full collections (20-30 ms at 100k objects) off them
            async with mcp_server.session_manager.run():
                yield

    app = FastAPI(
        title="Memory Server",
        version=__version__,
        summary="Durable, searchable facts about each user, from their conversations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    mcp_server = create_server(lambda: McpState(app.state.service, by_api_key(app.state.service)))
    app.state.mcp = mcp_server
    errors.install(app)
    app.add_middleware(McpKeyGate, path="/mcp")
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(HostCheck, hosts=allowed_hosts(settings.server), origins=settings.server.allowed_origins)
    app.add_middleware(RequestTiming)  # outermost: times every request, refusals included

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # Routes are matched in order, one regular expression after the other (/healthz, behind all the others, took
    # ~0.17 ms to be found): the probe first, then ours (the per-turn profile and publish are the hot path), then
    # the compatibility routers (their paths never overlap ours), and users last: its GET /v1/users/{user_id}
    # would take /v1/users/{user_id}/facts and the like.
    for router in (ingest.router, memory.router, admin.router, webhooks.router, segments.router, operations.router):
        app.include_router(router)
    app.include_router(reflexio.router)  # Reflexio's /api
    app.include_router(mem0.router)  # mem0's MemoryClient (/v1/ping/, /v1/memories/, /v3/memories/)
    app.include_router(supermemory.router)  # Supermemory's /v3, /v4 and /ns/{namespace} routes
    app.include_router(kaireon.router)  # Kaireon's /api/v1/customers/{id}/unified-profile
    app.include_router(cipres.router)  # Cipres's /api/v1/users and /api/v1/profiles
    app.include_router(users.router)
    console.install(app)
    # HostCheck guards every route, /mcp included, from one list: the SDK's own copy of the check is off.
    mcp_http = mcp_server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.router.routes.extend(mcp_http.routes)  # the route itself, so /mcp needs no redirect to /mcp/

    return app
