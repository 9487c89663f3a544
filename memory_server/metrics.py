"""Metrics in the Prometheus text format (`GET /metrics`), for operators watching one or many server processes.

Two kinds. Counted as they happen, in this process: request latency per route template (`api.timing`), model
calls and tokens per extractor and model (extraction jobs), candidate facts reconciled by what decided. Read from
the store at each scrape: jobs by status, queue depth and the age of the oldest queued job, the vector and webhook
outboxes (pending, and the oldest's age), so every process reports the same backlog whichever one is scraped.

With `PROMETHEUS_MULTIPROC_DIR` set (an empty directory, set before the processes start, shared by them), the
counted metrics of every process are kept there and each scrape aggregates all of them (the
`prometheus_client` multi-process mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import get_args

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from extractors.base import Usage
from memory_server import timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Forbidden
from memory_server.models import JobStatus
from memory_server.reconcile import Decision
from memory_server.store import overview as overviewsql
from memory_server.store.overview import Backlog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

disable_created_metrics()  # no `_created` series beside each counter and histogram: half the text, nothing lost

REQUEST_SECONDS = Histogram(
    "memory_server_request_duration_seconds",
    "HTTP request latency by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MODEL_CALLS = Counter("memory_server_model_calls", "Chat-model calls made by extraction jobs.", ["extractor", "model"])
MODEL_TOKENS = Counter(
    "memory_server_model_tokens", "Tokens spent by extraction jobs' model calls.", ["extractor", "model", "kind"]
)

RECONCILED = Counter(
    "memory_server_reconciliations",
    "Candidate facts reconciled, by what decided (rules: no model; extractor: in the extraction's own call; model: "
    "a reconciliation call) and the action taken.",
    ["by", "action"],
)


def count_model_usage(extractor: str, model: str, usage: Usage) -> None:
    """Add one job attempt's model calls and tokens."""
    if usage.llm_calls:
        MODEL_CALLS.labels(extractor, model).inc(usage.llm_calls)
        MODEL_TOKENS.labels(extractor, model, "prompt").inc(usage.prompt_tokens)
        MODEL_TOKENS.labels(extractor, model, "completion").inc(usage.completion_tokens)


def count_decisions(decisions: Iterable[Decision]) -> None:
    """Add the decisions one request stored."""
    for decision in decisions:
        RECONCILED.labels(decision.by, decision.action.value).inc()


def _age(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


class _BacklogCollector(Collector):
    """The backlog read for one scrape, as gauges."""

    def __init__(self, backlog: Backlog, buffered: int, now: datetime) -> None:
        self.backlog, self.buffered, self.now = backlog, buffered, now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        b = self.backlog
        jobs = GaugeMetricFamily("memory_server_jobs", "Requests (extraction jobs) by status.", labels=["status"])
        for status in get_args(JobStatus):
            jobs.add_metric([status], b.jobs.get(status, 0))
        yield jobs
        yield GaugeMetricFamily(
            "memory_server_queue_depth", "Jobs queued, waiting for a worker.", b.jobs.get("queued", 0)
        )
        yield GaugeMetricFamily(
            "memory_server_queue_oldest_age_seconds",
            "Age of the oldest queued job (0: none).",
            _age(b.oldest_queued, self.now),
        )
        pending = GaugeMetricFamily("memory_server_outbox_pending", "Outbox rows not yet applied.", labels=["outbox"])
        pending.add_metric(["vectors"], b.vector_ops)
        pending.add_metric(["webhooks"], b.deliveries)
        yield pending
        oldest = GaugeMetricFamily(
            "memory_server_outbox_oldest_age_seconds", "Age of the oldest pending row (0: none).", labels=["outbox"]
        )
        oldest.add_metric(["vectors"], _age(b.oldest_vector_op, self.now))
        oldest.add_metric(["webhooks"], _age(b.oldest_delivery, self.now))
        yield oldest
        yield GaugeMetricFamily(
            "memory_server_retrieval_log_buffered",
            "Retrieval-log entries of this process not yet written.",
            self.buffered,
        )


class Metrics:
    """The part of the service facade that renders `/metrics` (`MemoryService.metrics`)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def exposition(self, scope: Scope) -> bytes:
        """Every metric in the text format. They span every tenant, so only the operator's own tenant (the
        settings' `tenant`, the one served openly on loopback) may read them, with an admin key of the whole
        tenant: another tenant's key would learn how busy everyone else is."""
        scope.require("admin")
        if scope.tenant_id != self.core.settings.tenant or scope.pinned:
            raise Forbidden(
                "metrics span every tenant: they need an admin key of the operator's tenant "
                f"({self.core.settings.tenant!r}, the settings' `tenant`) not limited to a project"
            )
        backlog = await overviewsql.backlog(self.core.db)
        now = timeutil.now()
        read = CollectorRegistry(auto_describe=False)
        read.register(_BacklogCollector(backlog, len(self.core.retrievals), now))
        return generate_latest(counted_registry()) + generate_latest(read)


def counted_registry() -> CollectorRegistry:
    """This process's registry, or, in multi-process mode, one that aggregates every process's files."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
