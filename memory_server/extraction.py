"""Running extraction jobs: read a request's messages, extract candidates (and the signals an extractor gives),
analyse the other messages' signals offline, reconcile and store the candidates.

Two kinds of job: `extract` (one published request) and `reextract` (every stored message of a user,
replayed request by request through the current config, with all changes under the re-extraction's
request id). A failed try keeps the tokens it spent and the model reply it could not use.
"""

from __future__ import annotations

from functools import partial

from pydantic import ValidationError

from extractors.base import (
    Extraction,
    ExtractionContext,
    ExtractionError,
    Extractor,
    KnownFact,
    Message,
    SignalRequest,
    Usage,
    as_extraction,
    decides,
    extract_blocking,
    is_cpu_bound,
)
from extractors.llm_client import ModelCall
from extractors.registry import EXTRACTORS, PluginError, create_extractor, options_model
from memory_server import metrics, signals, timeutil, webhooks
from memory_server.config import ExtractionConfig, Settings
from memory_server.configstore import ConfigStore
from memory_server.context import Core, Scope
from memory_server.cpu import Budget
from memory_server.errors import InvalidInput, from_validation
from memory_server.neighbors import known_facts
from memory_server.pipeline import Batch, Origin, worth_storing
from memory_server.recency import extracting_as, said_times
from memory_server.reconcile import Reconciler, RulesReconciler
from memory_server.reconcile_llm import LLMReconciler
from memory_server.retrieval import live_facts
from memory_server.store import consent as consentsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store.jobs import ClaimedJob
from memory_server.store.messages import StoredMessage

#: A cpu-bound extractor reads a request this small on the loop: a few ms of work, less than the hand-off to a
#: worker process costs (ingest wait=true measured 40 ms p50 inline, 50 ms through the pool, with the rules one).
INLINE_CHARS = 1_000


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
        return LLMReconciler(call, timeutil.now(), config.duplicate_threshold)
    return RulesReconciler(config.duplicate_threshold)


def check_config(settings: Settings, config: ExtractionConfig) -> None:
    """A config is stored only if its extractor can be built from it."""
    if config.extractor == "llm" and model_call(settings, config) is None:
        raise InvalidInput(
            "model: the llm extractor needs a model: set `model` here or llm.model in the settings", field="model"
        )
    build_extractor(settings, config)


def build_extractor(settings: Settings, config: ExtractionConfig) -> Extractor:
    """The configured extractor, given only the options its `Options` declares: config settings of those names,
    the chat model with its credentials (`call`) to one that declares it, and `extractor_options` on top.

    Raises InvalidInput naming the option that is wrong.
    """
    try:
        factory = EXTRACTORS.load(config.extractor)
    except PluginError as exc:
        raise InvalidInput(f"extractor: {exc}", field="extractor") from None
    declared = options_model(factory).model_fields
    known = {**dict(config), "call": model_call(settings, config)}
    given = {name: known[name] for name in declared if name in known}
    try:
        return create_extractor(config.extractor, {**given, **config.extractor_options})
    except ValidationError as exc:
        problem = from_validation(exc.errors())
        field = f"extractor_options.{problem.field}" if problem.field else "extractor_options"
        raise InvalidInput(f"{field}: {problem.message.split(': ', 1)[-1]}", field=field) from None


async def run_job(core: Core, configs: ConfigStore, job: ClaimedJob) -> None:
    """Run one claimed job to completion, or raise (the worker pool retries or fails it)."""
    usage = Usage()
    _, config = await configs.active(job.tenant_id)  # the extractor and model the job's calls are counted under
    try:
        if job.kind == "reextract":
            await _reextract(core, configs, job, usage)
        else:
            await _extract(core, configs, job, usage, job.request_id, job.source, job.attributes, finishes=True)
    except ExtractionError as exc:
        await jobsql.record_attempt(core.db, job.request_id, usage, exc.raw)
        raise
    except Exception:
        await jobsql.record_attempt(core.db, job.request_id, usage, None)
        raise
    finally:
        _count_usage(core, config, usage)


def _count_usage(core: Core, config: ExtractionConfig, usage: Usage) -> None:
    """Add the attempt's model calls and tokens to the metrics, by the extractor and model of the config it began
    with (a config changed while its call ran does not take them over)."""
    if usage.llm_calls:
        call = model_call(core.settings, config)
        metrics.count_model_usage(config.extractor, call.model if call else "none", usage)


async def _extract(
    core: Core,
    configs: ConfigStore,
    job: ClaimedJob,
    usage: Usage,
    from_request: str,
    source: str | None,
    attributes: dict,
    finishes: bool,
) -> None:
    """Extract from the messages of `from_request`; changes are logged under the job's request id.

    A CPU-bound extractor runs in a worker process (unless the request is tiny), so the event loop keeps serving
    other requests; extracting and reconciling one request share one budget. The extractor (a model call, up to its
    timeout times its retries) and a model's reconciliation (`pipeline.Batch`) run before the user's lock is taken,
    so the user's other writes (a DELETE, a stated fact, a purge) do not wait for them; under the lock the job
    writes only if it is still wanted: a purge meanwhile dropped it, a "do not remember" mark meanwhile drops what
    was found.
    """
    budget = Budget(core.settings.workers.extraction_budget_seconds)
    version, config = await configs.active(job.tenant_id)
    stored = await messagesql.of_request(core.db, job.tenant_id, from_request)
    messages = [Message(role=m.role, content=m.content, created_at=m.created_at) for m in stored]
    extractor = build_extractor(core.settings, config)
    found = Extraction()
    remembered = await _may_remember(core, job)
    if remembered and (not config.sources or source in config.sources):
        wanted = SignalRequest.of(config.signals.taxonomy, config.signals.roles) if config.signals.enabled else None
        reconciles = decides(extractor) and config.reconcile_with_llm and config.known_facts_limit > 0
        shown = await _known(core, job, config, stored) if reconciles else []
        if is_cpu_bound(extractor) and sum(len(m.content) for m in messages) > INLINE_CHARS:
            # the worker counts on its own
            context = ExtractionContext(user_id=job.user_id, now=timeutil.now(), signals=wanted, known=shown)
            found, spent = await core.cpu.run(budget, "extraction", extract_blocking, extractor, messages, context)
            usage.include(spent)
        else:
            context = ExtractionContext(
                user_id=job.user_id, now=timeutil.now(), usage=usage, signals=wanted, known=shown
            )
            found = as_extraction(await extractor.extract(messages, context))
    origin = Origin(
        request_id=job.request_id,
        user_id=job.user_id,
        source=source,
        attributes=attributes,
        message_ids=[m.id for m in stored],
        message_times=[m.created_at for m in messages],
        config_version=version,
        finishes_job=finishes,
    )
    # Before the signals (they read the stored vectors) and the job's end (the messages are searchable once it is
    # done); the candidates in the same model call, whose cost for a few short texts is mostly fixed (unless
    # `_known` embedded the messages before the extraction).
    kept = worth_storing(found.facts, origin, config, timeutil.now())
    embedded = await core.vectors.embed_messages(origin.message_ids, also=[c.content for c in kept])
    known = {stored[i].id: s for i, s in found.signals.items() if 0 <= i < len(stored)}
    to_analyse = stored if remembered else []
    analysed = await signals.analyse(core, job.tenant_id, job.user_id, config, to_analyse, source, known)
    actor = extracting_as(job.actor, extractor.name)
    scope = Scope.of_space(job.tenant_id, job.actor)
    reconciler = reconciler_for(core.settings, config)
    batch = Batch(core, scope, kept, origin, config, reconciler, actor, usage, budget, embedded)
    early = await batch.ahead()
    async with core.user_lock(job.tenant_id, job.user_id):
        if await jobsql.get(core.db, job.tenant_id, job.request_id) is None:
            return  # purged (with the user) while the extractor ran: nothing of it may come back
        if not jobsql.still_claimed(core.db, job.request_id):
            return  # another process took the job over while this one was cut off from the database: it does it
        if remembered and not await _may_remember(core, job):
            batch.candidates, early = [], None
            analysed = signals.Analysed(job.tenant_id, job.user_id, config, [])
        await batch.store(early, also=partial(analysed.store, core))


async def _known(core: Core, job: ClaimedJob, config: ExtractionConfig, stored: list[StoredMessage]) -> list[KnownFact]:
    """The user's live facts related to what they said in the request, for an extractor that reconciles as it
    extracts: its one model call then does the reconciler's too. The messages are embedded (and stored) first."""
    live = await live_facts(core, job.tenant_id, job.user_id, with_vectors=True)
    if not live.facts:
        return []
    said = [m.content for m in stored if m.role in config.roles]
    vectors = await core.vectors.embed_messages([m.id for m in stored], also=said)
    shown = known_facts(live, [vectors[text] for text in said if text in vectors], config.known_facts_limit)
    times = await said_times(core.db, job.tenant_id, shown)
    return [
        KnownFact(id=f.id, content=f.content, kind=f.kind, updated_at=f.updated_at, said_at=times[f.id]) for f in shown
    ]


async def _may_remember(core: Core, job: ClaimedJob) -> bool:
    """False once the user is marked "do not remember": a request queued before the mark is finished without
    extracting anything from it (its messages stay until purged, like everything remembered before)."""
    mark = await consentsql.get(core.db, job.tenant_id, job.user_id)
    return mark is None or mark.remember


async def _reextract(core: Core, configs: ConfigStore, job: ClaimedJob, usage: Usage) -> None:
    """Replay the user's requests in the order they arrived; reconciliation makes a rerun harmless."""
    requests = await messagesql.requests_of_user(core.db, job.tenant_id, job.user_id)
    origins = await jobsql.origins(core.db, job.tenant_id, requests)
    for request_id in requests:
        source, attributes = origins.get(request_id, (None, {}))
        await _extract(core, configs, job, usage, request_id, source, attributes, finishes=False)
    now = timeutil.now()
    async with core.db.transaction() as conn:
        await jobsql.mark_done(conn, job.request_id, now, usage)
        done = {"user_id": job.user_id, "request_id": job.request_id}
        await webhooks.emit(conn, job.tenant_id, "request.done", done, at=now)
