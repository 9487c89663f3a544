"""Reflexio's profile API at /api, for its Python client (`reflexio-client`) pointed at this server.

A Reflexio profile is a fact; a published interaction is a request; the change log groups our change log by
request. Keys, roles, tenancy and limits are /v1's: the client sends `Authorization: Bearer <key>`. Errors
are this server's JSON error shape (the client raises on any 4xx/5xx without reading the body), with
fields named as Reflexio names them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ValidationError

from adapters.reflexio import config
from adapters.reflexio.models import (
    EXTRACTOR_NAME,
    DeleteRequest,
    GetProfilesRequest,
    PublishRequest,
    SearchRequest,
    fact_view,
    hit_view,
)
from memory_server import timeutil
from memory_server.api.deps import CallerScope, Service
from memory_server.context import Scope
from memory_server.errors import InvalidInput, ServiceError, from_validation
from memory_server.models import Fact, Job, SearchHit
from memory_server.schemas import DeleteByQueryIn, FactFilter, InteractionIn, SearchIn
from memory_server.service import MemoryService

router = APIRouter(prefix="/api", tags=["reflexio"])

#: The client's defaults for a search, which deleting by search_query also uses: it removes what a search
#: for the same words shows.
SEARCH_THRESHOLD = 0.4
SEARCH_TOP_K = 10
#: Reflexio statuses -> ours. Deleted facts are not shown (a Reflexio deletion is final); pending is never used.
_STATUSES: dict[str | None, tuple[str, ...]] = {
    None: ("active",),
    "archived": ("superseded", "expired"),
    "pending": (),
    "archive_in_progress": (),
}


@router.post("/publish_interaction")
async def publish_interaction(
    body: PublishRequest,
    service: Service,
    scope: CallerScope,
    wait_for_response: Annotated[bool, Query(description="Answer when extraction is done.")] = False,
) -> dict[str, Any]:
    """Store the interactions as one request and extract profiles from them (wait_for_response: before answering).
    Interactions without content are skipped with a warning."""
    positions, messages, warnings = [], [], []
    for i, item in enumerate(body.interaction_data_list):
        if not (item.content or "").strip():
            warnings.append(f"interaction_data_list.{i}: skipped: it has no content")
            continue
        positions.append(i)
        messages.append({"role": item.role, "content": item.content, "created_at": item.sent_at()})
    if not messages:
        raise InvalidInput(
            "interaction_data_list: no interaction has content: give each a content", field="interaction_data_list"
        )
    try:
        interaction = InteractionIn(
            user_id=body.user_id,
            messages=messages,
            session_id=body.session_id or None,
            source=body.source or None,
            wait=wait_for_response,
        )
        job, duplicate = await service.ingest(scope, interaction)
    except ValidationError as exc:
        raise _in_interactions(from_validation(exc.errors()), positions) from exc
    except ServiceError as exc:
        raise _in_interactions(exc, positions) from exc
    return _published(job, duplicate, warnings, wait_for_response)


def _in_interactions(exc: ServiceError, positions: list[int]) -> ServiceError:
    """`messages.N...` (the stored messages) named as `interaction_data_list.M...` (what the caller sent)."""
    parts = (exc.field or "").split(".")
    if parts[0] != "messages":
        return exc
    if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(positions):
        parts[1] = str(positions[int(parts[1])])
    field = ".".join(["interaction_data_list", *parts[1:]])
    message = exc.message.replace(exc.field or "", field, 1)
    return type(exc)(message, field=field)


def _published(job: Job, duplicate: bool, warnings: list[str], waited: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"success": job.status != "failed", "warnings": warnings, "request_id": job.request_id}
    if job.status == "failed":
        answer["message"] = f"extraction failed: {job.error}"
    elif job.skipped:
        answer["message"] = "nothing stored: the user is marked not to be remembered (consent)"
        answer["skipped"] = job.skipped
    elif duplicate:
        answer["message"] = f"already published as request {job.request_id}"
    elif job.status == "done":
        answer["message"] = "Interaction processed"
    else:
        answer["message"] = "Interaction queued for processing"
    if waited and job.status == "done" and job.changes is not None:
        answer["profiles_added"] = len(job.changes.added)
        answer["profiles_updated"] = len(job.changes.updated)
    return answer


@router.post("/search_profiles")
async def search_profiles(body: SearchRequest, service: Service, scope: CallerScope) -> dict[str, Any]:
    """The user's current profiles that match `query` at or above `threshold`, best first (without a query:
    the newest). Scores are this server's 0..1 search scores."""
    top_k = body.top_k or SEARCH_TOP_K
    query = (body.query or "").strip()
    filtered = bool(body.generated_from_request_id or body.custom_feature or body.extractor_name)
    if not query:
        wide = max(top_k, service.core.settings.limits.max_page_size) if filtered or body.source else top_k
        facts = await _listed(service, scope, body.user_id, [None], wide, body.start_time, body.end_time)
        views = [fact_view(f) for f in facts if _wanted(body, f.source, f.request_id, f.attributes)]
        return {"success": True, "user_profiles": views[:top_k]}
    results = await service.search(
        scope,
        SearchIn(
            user_id=body.user_id,
            query=query,
            threshold=SEARCH_THRESHOLD if body.threshold is None else body.threshold,
            top_k=service.core.settings.limits.max_top_k if filtered else top_k,
            types=["facts"],
            source=body.source or None,
            since=body.start_time,
            until=body.end_time,
        ),
    )
    hits: list[SearchHit] = [h for h in results.results if _wanted(body, h.source, h.request_id, h.attributes)]
    return {"success": True, "user_profiles": [hit_view(body.user_id, h) for h in hits[:top_k]]}


def _wanted(body: SearchRequest, source: str | None, request_id: str | None, attributes: dict[str, Any]) -> bool:
    return (
        (not body.source or source == body.source)
        and (not body.generated_from_request_id or request_id == body.generated_from_request_id)
        and (not body.custom_feature or body.custom_feature in attributes)
        and (not body.extractor_name or body.extractor_name == EXTRACTOR_NAME)
    )


@router.post("/get_profiles")
async def get_profiles(body: GetProfilesRequest, service: Service, scope: CallerScope) -> dict[str, Any]:
    """The user's profiles, last modified first: current ones (status null) unless `status_filter` asks for
    others ("archived": superseded or expired)."""
    statuses = body.status_filter if body.status_filter is not None else [None]
    facts = await _listed(service, scope, body.user_id, statuses, body.top_k or 30, body.start_time, body.end_time)
    return {"success": True, "user_profiles": [fact_view(f) for f in facts]}


async def _listed(
    service: MemoryService,
    scope: Scope,
    user_id: str,
    statuses: list[str | None],
    top_k: int,
    start: datetime | None,
    end: datetime | None,
) -> list[Fact]:
    """Up to `top_k` facts in the given Reflexio statuses, last modified within [start, end], newest first."""
    found: list[Fact] = []
    page_size = min(top_k, service.core.settings.limits.max_page_size)
    for status in sorted({ours for s in statuses for ours in _STATUSES[s]}):
        cursor, kept = None, 0
        while True:
            flt = FactFilter(status=status, limit=page_size, cursor=cursor)  # type: ignore[arg-type]
            page = await service.facts(scope, user_id, flt)
            within = [f for f in page.items if _within(f.updated_at, start, end)]
            found.extend(within)
            kept += len(within)
            if page.next_cursor is None or kept >= top_k:
                break
            cursor = page.next_cursor
    found.sort(key=lambda f: (f.updated_at, f.id), reverse=True)
    return found[:top_k]


def _within(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or at >= timeutil.as_utc(start)) and (end is None or at <= timeutil.as_utc(end))


@router.get("/profile_change_log")
async def profile_change_log(service: Service, scope: CallerScope) -> dict[str, Any]:
    """What each recent request added and removed, oldest first (from the latest page of the change log)."""
    logs = await service.request_logs(scope, service.core.settings.limits.max_page_size)
    entries = [
        {
            "id": log.id,
            "user_id": log.user_id,
            "request_id": log.request_id or "",
            "created_at": int(log.created_at.timestamp()),
            "added_profiles": [fact_view(f) for f in log.added],
            "removed_profiles": [fact_view(f) for f in log.removed],
            "mentioned_profiles": [],
        }
        for log in logs
    ]
    return {"success": True, "profile_change_logs": entries}


@router.delete("/delete_profile")
async def delete_profile(body: DeleteRequest, service: Service, scope: CallerScope) -> dict[str, Any]:
    """Delete one profile (`profile_id`), or the profiles a search for `search_query` shows (at the client's
    default threshold and top_k). Another user's or tenant's profile id is 404."""
    profile_id, query = (body.profile_id or "").strip(), (body.search_query or "").strip()
    if profile_id and query:
        raise InvalidInput("search_query: give profile_id or search_query, not both", field="search_query")
    if profile_id:
        fact, _ = await service.delete_fact(scope, profile_id, body.user_id)
        return {"success": True, "message": f"deleted profile {fact.id}"}
    if not query:
        raise InvalidInput("profile_id: give profile_id or search_query", field="profile_id")
    ask = DeleteByQueryIn(
        user_id=body.user_id, query=query, threshold=SEARCH_THRESHOLD, top_k=SEARCH_TOP_K, types=["facts"]
    )
    facts, _ = await service.delete_by_query(scope, ask)
    return {"success": True, "message": f"deleted {len(facts)} profile(s)"}


@router.get("/get_config")
async def get_config(service: Service, scope: CallerScope) -> dict[str, Any]:
    """The tenant's extraction config as Reflexio's whole Config object (admin keys)."""
    return config.to_reflexio((await service.config(scope)).config)


@router.post("/set_config")
async def set_config(body: config.ConfigIn, service: Service, scope: CallerScope) -> dict[str, Any]:
    """Take Reflexio's whole Config back: its profile extractor becomes the next extraction config version."""
    try:
        version = await service.update_config(scope, config.changes_from(body))
    except ValidationError as exc:
        raise config.renamed(from_validation(exc.errors())) from exc
    except ServiceError as exc:
        raise config.renamed(exc) from exc
    return {"success": True, "msg": f"extraction config version {version.version}"}
