"""Webhooks (admin): the list, creating one (its signing secret shown on that answer only), deleting one, and a
webhook's deliveries with their status, each delivered or failed one redeliverable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import Response

from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, errors_by_field, redirect
from memory_server.errors import ServiceError, from_validation
from memory_server.models import NewWebhook
from memory_server.schemas import Cursor, DeliveryFilter, DeliveryId, Identifier, WebhookIn, WebhookUpdate
from memory_server.webhooks import EVENT_TYPES

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
FIELDS = ("url", "events")


async def _list(
    caller: Caller,
    status: int = 200,
    created: NewWebhook | None = None,
    shown: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    hooks = await caller.service.webhooks.list(caller.scope)
    return caller.render(
        "webhooks.html",
        status,
        hooks=hooks,
        created=created,
        event_types=EVENT_TYPES,
        form=shown or {},
        errors=errors or {},
    )


@router.get("/webhooks")
async def webhooks(caller: Caller) -> Response:
    return await _list(caller)


@router.post("/webhooks")
async def create(caller: Caller, fields: Form) -> Response:
    """The new webhook's secret is on this answer only (the page is never cached)."""
    events = [name for name in EVENT_TYPES if fields.get(f"event:{name}") == "on"]
    try:
        body = WebhookIn.model_validate({"url": fields.get("url", "").strip(), "events": events})
        created = await caller.service.webhooks.create(caller.scope, body)
    except ValidationError as exc:
        return await _list(caller, 422, shown=fields, errors=errors_by_field(from_validation(exc.errors()), FIELDS))
    except ServiceError as exc:
        return await _list(caller, exc.status, shown=fields, errors=errors_by_field(exc, FIELDS))
    return await _list(caller, 201, created=created)


class DeliveriesQuery(BaseModel):
    """The deliveries' filter as the form sends it: an empty status means any."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["", "pending", "delivered", "failed"] = ""
    cursor: Cursor | None = None


@router.get("/webhooks/{webhook_id}")
async def webhook(caller: Caller, webhook_id: Identifier, query: Annotated[DeliveriesQuery, Query()]) -> Response:
    service = caller.service.webhooks
    hook = await service.get(caller.scope, webhook_id)
    flt = DeliveryFilter(status=query.status or None, cursor=query.cursor)
    deliveries = await service.deliveries(caller.scope, webhook_id, flt)
    return caller.render("webhook.html", hook=hook, deliveries=deliveries, query=query)


@router.post("/webhooks/{webhook_id}/delete")
async def delete(caller: Caller, _: Form, webhook_id: Identifier) -> Response:
    await caller.service.webhooks.delete(caller.scope, webhook_id)
    return redirect("/webhooks")


@router.post("/webhooks/{webhook_id}/enabled")
async def enable(caller: Caller, fields: Form, webhook_id: Identifier) -> Response:
    """Pause or resume (the form's `enabled`: "true" or "false"; anything else is a 422, never a pause)."""
    body = WebhookUpdate.model_validate({"enabled": {"true": True, "false": False}.get(fields.get("enabled", ""))})
    await caller.service.webhooks.update(caller.scope, webhook_id, body)
    return redirect(f"/webhooks/{webhook_id}")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(caller: Caller, _: Form, webhook_id: Identifier, delivery_id: DeliveryId) -> Response:
    await caller.service.webhooks.redeliver(caller.scope, webhook_id, delivery_id)
    return redirect(f"/webhooks/{webhook_id}")
