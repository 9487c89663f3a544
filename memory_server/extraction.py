"""Running extraction jobs: read a request's messages, extract candidates, reconcile and store them.

Two kinds of job: `extract` (one published request) and `reextract` (every stored message of a user,
replayed request by request through the current config, with all changes under the re-extraction's
request id). A failed try keeps the tokens it spent and the model reply it could not use.
"""

from __future__ import annotations

import json

from extractors.base import (
    ExtractionContext,
    ExtractionError,
    Message,
    Usage,
    create_extractor,
    extract_blocking,
    is_cpu_bound,
)
from extractors.llm_client import ModelCall
from memory_server import jobs, timeutil
from memory_server.config import ExtractionConfig, Settings
from memory_server.configstore import ConfigStore
from memory_server.context import Core, Scope
from memory_server.cpu import Budget
from memory_server.pipeline import Origin, apply_candidates
from memory_server.reconcile import Reconciler, RulesReconciler
from memory_server.reconcile_llm import LLMReconciler


def model_call(settings: Settings, config: ExtractionConfig) -> ModelCall | None:
    """The chat model this config uses (its own `model`, else llm.model), or None when there is none."""
    model = config.model or settings.llm.model
    if not model:
        return None
    llm = settings.llm
    return ModelCall(
        model=model,
        api_base=llm.api_base,
        api_key=llm.api_key,
        temperature=config.temperature,
        timeout_seconds=llm.timeout_seconds,
        max_retries=llm.max_retries,
        retry_backoff_seconds=llm.retry_backoff_seconds,
        max_output_tokens=llm.max_output_tokens,
    )


def reconciler_for(settings: Settings, config: ExtractionConfig) -> Reconciler:
    call = model_call(settings, config)
    if config.extractor == "llm" and config.reconcile_with_llm and call is not None:
        return LLMReconciler(call, timeutil.now())
    return RulesReconciler(config.duplicate_threshold)


def context_for(settings: Settings, config: ExtractionConfig, user_id: str, usage: Usage) -> ExtractionContext:
    """Every extractor gets the whole config (and the model call, if any) with each call."""
    call = model_call(settings, config)
    options = {**config.model_dump(), "call": call.model_dump() if call else None}
    if call is not None and call.api_key is not None:
        options["call"]["api_key"] = call.api_key.get_secret_value()
    return ExtractionContext(user_id=user_id, now=timeutil.now(), options=options, usage=usage)


async def run_job(core: Core, configs: ConfigStore, job: jobs.ClaimedJob) -> None:
    """Run one claimed job to completion, or raise (the worker pool retries or fails it)."""
    usage = Usage()
    try:
        async with core.user_lock(job.tenant_id, job.user_id):
            if job.kind == "reextract":
                await _reextract(core, configs, job, usage)
            else:
                await _extract(core, configs, job, usage, job.request_id, job.source, job.attributes, finishes=True)
    except ExtractionError as exc:
        await jobs.record_attempt(core.db, job.request_id, usage, exc.raw)
        raise
    except Exception:
        await jobs.record_attempt(core.db, job.request_id, usage, None)
        raise


async def _extract(
    core: Core,
    configs: ConfigStore,
    job: jobs.ClaimedJob,
    usage: Usage,
    from_request: str,
    source: str | None,
    attributes: dict,
    finishes: bool,
) -> None:
    """Extract from the messages of `from_request`; changes are logged under the job's request id.

    A CPU-bound extractor runs in a worker process, so the event loop keeps serving other requests;
    extracting and reconciling one request share one budget.
    """
    budget = Budget(core.settings.workers.extraction_budget_seconds)
    version, config = await configs.active(job.tenant_id)
    rows = await core.db.fetchall(
        "SELECT id, role, content, created_at FROM messages WHERE tenant_id = ? AND request_id = ? ORDER BY position",
        (job.tenant_id, from_request),
    )
    messages = [Message(role=r[1], content=r[2], created_at=timeutil.from_db(r[3])) for r in rows]
    extractor = create_extractor(config.extractor)
    candidates = []
    if not config.sources or source in config.sources:
        if is_cpu_bound(extractor):
            context = context_for(core.settings, config, job.user_id, Usage())  # the worker counts on its own
            candidates, spent = await core.cpu.run(budget, "extraction", extract_blocking, extractor, messages, context)
            usage.include(spent)
        else:
            candidates = await extractor.extract(messages, context_for(core.settings, config, job.user_id, usage))
    origin = Origin(
        request_id=job.request_id,
        user_id=job.user_id,
        source=source,
        attributes=attributes,
        message_ids=[r[0] for r in rows],
        message_times=[m.created_at for m in messages],
        config_version=version,
        finishes_job=finishes,
    )
    reconciler = reconciler_for(core.settings, config)
    actor = f"{job.actor}/extractor:{extractor.name}"
    scope = Scope(job.tenant_id, job.actor)
    await apply_candidates(core, scope, candidates, origin, config, reconciler, actor, usage, budget)


async def _reextract(core: Core, configs: ConfigStore, job: jobs.ClaimedJob, usage: Usage) -> None:
    """Replay the user's requests in the order they arrived; reconciliation makes a rerun harmless."""
    requests = await core.db.fetchall(
        "SELECT m.request_id, min(m.id) AS first, j.source, j.attributes FROM messages m "
        "LEFT JOIN jobs j ON j.request_id = m.request_id AND j.tenant_id = m.tenant_id "
        "WHERE m.tenant_id = ? AND m.user_id = ? AND m.request_id != ? GROUP BY m.request_id ORDER BY first",
        (job.tenant_id, job.user_id, job.request_id),
    )
    for request_id, _, source, attributes in requests:
        await _extract(core, configs, job, usage, request_id, source, json.loads(attributes or "{}"), finishes=False)
    async with core.db.transaction() as conn:
        await jobs.mark_done(conn, job.request_id, timeutil.now(), usage)
