"""Webhooks: tenants register URLs for event types; events go out signed, through a durable outbox.

`emit` is called inside the transaction of the change that causes an event (a job failing for good, a user
entering a segment), so the event exists exactly when the change does: it stores the event and one pending
delivery per webhook that wants it. `webhook_delivery.WebhookDispatcher` sends them after the commit, retries
with backoff and replays at start-up what a crash interrupted; every attempt carries the event's id as
`webhook-id`, so a receiver can drop a repeat (delivery is at least once).

Every event is sent as `{"type", "timestamp", "data"}` (the Standard Webhooks payload shape); `data` never
holds the tenant. The management functions here back the admin routes; the doors call them through the service.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit

from memory_server import ssrf, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Conflict, InvalidInput, NotFound, check_page_size
from memory_server.models import NewWebhook, Page, Webhook, WebhookDelivery, WebhookEventType
from memory_server.schemas import DeliveryFilter, WebhookIn, WebhookUpdate
from memory_server.store import changelog as changesql
from memory_server.store import webhooks as hooksql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Connection

EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
SECRET_PREFIX = "whsec_"  # what standardwebhooks.Webhook(secret) expects before the base64 key


async def emit(
    conn: Connection,
    tenant_id: str,
    event_type: WebhookEventType,
    data: Mapping[str, Any],
    *,
    at: datetime | None = None,
) -> str | None:
    """Queue an event for each of the tenant's webhooks that wants `event_type`, in the caller's transaction.

    `data` is the event's public content (never the tenant); a `user_id` in it lets purging the user reach the
    event. Returns the event id (the `webhook-id` of its deliveries), or None when no webhook wants it (then
    nothing is stored). Delivery starts once the transaction commits: the dispatcher is woken after every job,
    and other callers wake it with `core.webhooks.notify()`.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}: add it to models.WebhookEventType")
    hooks = await hooksql.subscribers(conn, tenant_id, event_type)
    if not hooks:
        return None
    at = at or timeutil.now()
    event_id = "msg_" + uuid.uuid4().hex
    body = json.dumps(
        {"type": event_type, "timestamp": timeutil.to_db(at), "data": dict(data)},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    user_id = data.get("user_id")
    await hooksql.add_event(
        conn,
        event_id=event_id,
        tenant_id=tenant_id,
        user_id=user_id if isinstance(user_id, str) else None,
        event_type=event_type,
        body=body,
        at=at,
        webhook_ids=hooks,
    )
    return event_id


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _logged(hook: Webhook) -> Webhook:
    """The webhook as the change log keeps it: its URL without query or fragment, which may hold a token, as
    viewers read the change log and only admins read webhooks."""
    parts = urlsplit(hook.url)
    return hook.model_copy(update={"url": urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))})


class Webhooks:
    """The part of the service facade for webhooks (`MemoryService.webhooks`); every route is admin."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, scope: Scope, body: WebhookIn) -> NewWebhook:
        """Register a webhook; the answer holds its secret, which is never shown again."""
        scope.require("admin")
        core = self.core
        settings = core.settings.webhooks
        host = ssrf.host_of(body.url)
        address = ssrf.literal_address(host)
        if address is not None and not settings.allow_private and (reason := ssrf.blocked(address)):
            raise InvalidInput(f"url: {ssrf.refusal(host, address, reason)}", field="url")
        now = timeutil.now()
        secret = new_secret()
        hook = Webhook(id=str(uuid.uuid4()), url=body.url, events=body.events, created_by=scope.actor, created_at=now)
        async with core.db.transaction() as conn:
            if await hooksql.count(conn, scope.space) >= settings.max_per_tenant:
                raise Conflict(
                    f"this tenant has {settings.max_per_tenant} webhooks, the most allowed (webhooks.max_per_tenant): "
                    "delete one first"
                )
            await hooksql.insert(conn, scope.space, hook, secret)
            event = ChangeEvent("webhook_create", scope.space, None, scope.actor, now, after=_logged(hook))
            await changesql.record(conn, event)
        return NewWebhook(**hook.model_dump(), secret=secret)

    async def list(self, scope: Scope) -> list[Webhook]:
        scope.require("admin")
        return await hooksql.listed(self.core.db, scope.space)

    async def get(self, scope: Scope, webhook_id: str) -> Webhook:
        """One of the tenant's webhooks (another tenant's reads as not found)."""
        scope.require("admin")
        hook = await hooksql.get(self.core.db, scope.space, webhook_id)
        if hook is None:
            raise NotFound(f"webhook_id: no webhook {webhook_id}", field="webhook_id")
        return hook

    async def delete(self, scope: Scope, webhook_id: str) -> Webhook:
        """Delete a webhook and its deliveries; nothing more is sent to it."""
        scope.require("admin")
        async with self.core.db.transaction() as conn:
            hook = await hooksql.delete(conn, scope.space, webhook_id)
            if hook is None:
                raise NotFound(f"webhook_id: no webhook {webhook_id}", field="webhook_id")
            event = ChangeEvent("webhook_delete", scope.space, None, scope.actor, timeutil.now(), before=_logged(hook))
            await changesql.record(conn, event)
        return hook

    async def update(self, scope: Scope, webhook_id: str, body: WebhookUpdate) -> Webhook:
        """Pause a webhook (`enabled: false`: its events are not recorded for it, its pending deliveries wait) or
        resume it (they go out again)."""
        scope.require("admin")
        async with self.core.db.transaction() as conn:
            before = await hooksql.set_enabled(conn, scope.space, webhook_id, body.enabled)
            if before is None:
                raise NotFound(f"webhook_id: no webhook {webhook_id}", field="webhook_id")
            after = before.model_copy(update={"enabled": body.enabled})
            if after != before:
                now = timeutil.now()
                event = ChangeEvent(
                    "webhook_update", scope.space, None, scope.actor, now, before=_logged(before), after=_logged(after)
                )
                await changesql.record(conn, event)
        self.core.webhooks.notify()
        return after

    async def deliveries(self, scope: Scope, webhook_id: str, flt: DeliveryFilter) -> Page[WebhookDelivery]:
        """A webhook's deliveries, newest first, optionally of one status."""
        check_page_size(flt.limit, self.core.settings.limits.max_page_size)
        await self.get(scope, webhook_id)
        items, cursor = await hooksql.deliveries(
            self.core.db,
            scope.space,
            webhook_id,
            status=flt.status,
            cursor=None if flt.cursor is None else int(flt.cursor),
            limit=flt.limit,
        )
        return Page[WebhookDelivery](items=items, next_cursor=None if cursor is None else str(cursor))

    async def redeliver(self, scope: Scope, webhook_id: str, delivery_id: int) -> WebhookDelivery:
        """Send a delivered or failed delivery again, with the same `webhook-id`, through the full retry schedule."""
        await self.get(scope, webhook_id)
        core = self.core
        found = await hooksql.delivery(core.db, scope.space, webhook_id, delivery_id)
        if found is None:
            raise NotFound(f"delivery_id: no delivery {delivery_id} of webhook {webhook_id}", field="delivery_id")
        if not await hooksql.requeue(core.db, scope.space, webhook_id, delivery_id):
            raise Conflict(f"delivery {delivery_id} is pending already: it is sent when due")
        core.webhooks.notify()
        again = await hooksql.delivery(core.db, scope.space, webhook_id, delivery_id)
        return again or found
