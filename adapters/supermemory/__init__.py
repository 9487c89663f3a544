"""Supermemory's API on our service: `POST /v4/profile`, the 3.x SDK's `/v3/documents`, `/v4/search` and
`/v4/memories`, the 5.x SDK's `/ns/{namespace}/...` routes.

A container tag (3.x, v4) or namespace (5.x) is a user; a document is a published request. Keys are ours, sent
as `Authorization: Bearer <key>` (their SDKs' scheme).
"""

from fastapi import APIRouter

from adapters.supermemory import documents, namespaces, profile

router = APIRouter(include_in_schema=False)  # their API, documented by them; /openapi.json is ours
router.include_router(profile.router)
router.include_router(documents.router)
router.include_router(namespaces.router)
