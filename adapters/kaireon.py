"""Kaireon compatibility: `GET /api/v1/customers/{id}/unified-profile`, in its legacy section format or
`format=structured`, built on the unified profile (`MemoryService.profile_sections`).

A customer is a user. `X-Tenant-Id` must name the key's tenant (another tenant reads as not found, as every
other tenant's id does here); without keys (open mode on loopback) it selects the tenant. Kaireon's sections we
hold data for map from ours (identities, interactions, segments, consent); `journeys` and `experiments` are empty
lists: nothing here enrolls customers in journeys or experiments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request

from memory_server import timeutil
from memory_server.access import api_key
from memory_server.api.deps import CallerScope, Service
from memory_server.context import Scope
from memory_server.errors import NotFound, UnknownName
from memory_server.schemas import Identifier
from memory_server.service import MemoryService

router = APIRouter(prefix="/api/v1", tags=["kaireon"])

#: Kaireon's section -> the section of ours it is made from (None: we have no data for it).
SECTIONS: dict[str, str | None] = {
    "identities": "identities",
    "interactions": "interactions",
    "segments": "segments",
    "journeys": None,
    "experiments": None,
    "consent": "consent",
}
STRUCTURED = ("attributes", "identities", "facts", "interactions", "aggregates", "consent")


def _time(at: datetime | str | None) -> str | None:
    """Kaireon's timestamps: UTC with milliseconds and a Z (`2026-03-30T12:00:00.000Z`)."""
    if at is None:
        return None
    moment = timeutil.as_utc(datetime.fromisoformat(at) if isinstance(at, str) else at)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _identities(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": i["type"], "value": i["value"], "confidence": i["confidence"]} for i in data]


def _interactions(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"msg_{i['message_id']}",
            "interactionType": "message",
            "channelId": i["source_label"],
            "timestamp": _time(i["timestamp"]),
            "role": i["role"],
            "content": i["content"],
            "sentiment": i["sentiment"],
            "topics": i["topics"],
            "intentions": i["intentions"],
        }
        for i in data
    ]


def _segments(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"segmentId": s["id"], "segmentName": s["name"], "memberSince": _time(s["entered_at"])} for s in data]


def _consent(data: dict[str, Any]) -> list[dict[str, Any]]:
    status = "granted" if data["remember"] else "revoked"
    return [{"purpose": "memory", "status": status, "reason": data["reason"], "updatedAt": _time(data["updated_at"])}]


_SHAPES = {"identities": _identities, "interactions": _interactions, "segments": _segments, "consent": _consent}


def _tenant_scope(scope: Scope, request: Request, tenant: str | None) -> Scope:
    """The scope `X-Tenant-Id` names: the key's own tenant, or (open mode, no key) any tenant."""
    if tenant is None or tenant == scope.tenant_id:
        return scope
    if api_key(request.headers) is not None:
        raise NotFound(f"X-Tenant-Id: no tenant {tenant} for this key", field="X-Tenant-Id")
    return Scope(tenant, scope.actor, scope.role)


@router.get("/customers/{customer_id}/unified-profile")
async def unified_profile(
    customer_id: Identifier,
    request: Request,
    service: Service,
    scope: CallerScope,
    sections: Annotated[str | None, Query(max_length=2_000)] = None,
    shape: Annotated[Literal["structured"] | None, Query(alias="format")] = None,
    x_tenant_id: Annotated[Identifier | None, Header()] = None,
) -> dict[str, Any]:
    """The customer's profile: named sections (all, or `sections=a,b`), or the structured format."""
    scope = _tenant_scope(scope, request, x_tenant_id)
    if shape == "structured":
        return await _structured(service, scope, customer_id)
    names = list(SECTIONS) if sections is None else [n.strip() for n in sections.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        what = f"no section {', '.join(unknown)}" if unknown else "name at least one section"
        raise UnknownName(f"sections: {what}: choose from {', '.join(SECTIONS)}", field="sections")
    ours = [SECTIONS[n] for n in names if SECTIONS[n] is not None]
    built = await service.profile_sections(scope, customer_id, [n for n in ours if n is not None]) if ours else None
    by_name = {s.name: s for s in built.sections} if built else {}
    out = []
    for name in names:
        source = SECTIONS[name]
        section = by_name.get(source) if source else None
        if section is None:
            out.append({"name": name, "data": []})
        elif section.error is not None:
            out.append({"name": name, "data": None, "error": section.error})
        else:
            out.append({"name": name, "data": _SHAPES[name](section.data)})
    computed = built.computed_at if built else timeutil.now()
    return {"customerId": customer_id, "tenantId": scope.tenant_id, "sections": out, "computedAt": _time(computed)}


async def _structured(service: MemoryService, scope: Scope, customer_id: str) -> dict[str, Any]:
    """Demographics (attributes, identities, lasting facts), interactions, clv (none kept here), metrics (the
    aggregates of the customer's messages) and suppressions (a "do not remember" mark)."""
    built = await service.profile_sections(scope, customer_id, list(STRUCTURED))
    data = {s.name: s.data for s in built.sections}
    identities = _identities(data["identities"] or [])
    consent = data["consent"] or {"remember": True}
    return {
        "customerId": customer_id,
        "tenantId": scope.tenant_id,
        "format": "structured",
        "demographics": {
            "attributes": data["attributes"] or {},
            "identities": identities,
            "facts": [f["content"] for f in (data["facts"] or {}).get("static", [])],
        },
        "interactions": _interactions(data["interactions"] or []),
        "clv": None,
        "metrics": data["aggregates"],
        "suppressions": [] if consent["remember"] else [{"type": "memory", "reason": consent.get("reason")}],
        "computedAt": _time(built.computed_at),
        "errors": {s.name: s.error for s in built.sections if s.error},
    }
