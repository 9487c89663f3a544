"""Webhooks (admin): register URLs for events, follow and redeliver their deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from memory_server.api.deps import CallerScope, Service
from memory_server.models import NewWebhook, Page, Webhook, WebhookDelivery
from memory_server.schemas import DeliveryFilter, DeliveryId, Identifier, WebhookIn, WebhookUpdate

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.post("/webhooks", response_model=NewWebhook, status_code=201)
async def create_webhook(body: WebhookIn, service: Service, scope: CallerScope) -> NewWebhook:
    """Send the given event types to `url`, signed (Standard Webhooks). The `secret` is shown only here."""
    return await service.webhooks.create(scope, body)


@router.get("/webhooks", response_model=list[Webhook])
async def list_webhooks(service: Service, scope: CallerScope) -> list[Webhook]:
    """Your tenant's webhooks (never their secrets)."""
    return await service.webhooks.list(scope)


@router.get("/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: Identifier, service: Service, scope: CallerScope) -> Webhook:
    return await service.webhooks.get(scope, webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=Webhook)
async def update_webhook(webhook_id: Identifier, body: WebhookUpdate, service: Service, scope: CallerScope) -> Webhook:
    """Pause (`{"enabled": false}`) or resume a webhook: while paused its events are not recorded for it and its
    pending deliveries wait."""
    return await service.webhooks.update(scope, webhook_id, body)


@router.delete("/webhooks/{webhook_id}", response_model=Webhook)
async def delete_webhook(webhook_id: Identifier, service: Service, scope: CallerScope) -> Webhook:
    """Delete a webhook and its deliveries; nothing more is sent to it."""
    return await service.webhooks.delete(scope, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[WebhookDelivery])
async def list_deliveries(
    webhook_id: Identifier, flt: Annotated[DeliveryFilter, Query()], service: Service, scope: CallerScope
) -> Page[WebhookDelivery]:
    """A webhook's deliveries, newest first; `status=pending|delivered|failed` keeps one status."""
    return await service.webhooks.deliveries(scope, webhook_id, flt)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=WebhookDelivery, status_code=202
)
async def redeliver(
    webhook_id: Identifier, delivery_id: DeliveryId, service: Service, scope: CallerScope
) -> WebhookDelivery:
    """Send a delivered or failed delivery again, with the same `webhook-id` (409 while it is pending)."""
    return await service.webhooks.redeliver(scope, webhook_id, delivery_id)
