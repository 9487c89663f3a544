"""Extraction: the operator-editable `ExtractionConfig` (versioned, changed at run time through `PUT /v1/config`),
the chat model the `llm` extractor reaches, and the workers that run the jobs."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, ConfigDict, Field, SecretStr, field_validator

from extractors.base import MessageRole, TtlName
from extractors.signals import Taxonomy
from extractors.taxonomy import default_taxonomy
from memory_server.aggregates import AggregateConfig
from memory_server.config.base import Section
from memory_server.schemas import Identifier, TtlSeconds


class WorkerSettings(Section):
    concurrency: int = Field(2, ge=1, le=64, description="Extraction jobs running at once.")
    max_attempts: int = Field(3, ge=1, le=20, description="Tries before a job is marked failed.")
    retry_backoff_seconds: float = Field(2.0, ge=0, le=3600, description="First retry delay; doubles each try.")
    wait_timeout_seconds: float = Field(60.0, gt=0, le=600, description="Longest a `wait: true` request is held.")
    poll_seconds: float = Field(1.0, gt=0, le=60, description="How often workers look for due jobs and expiries.")
    cpu_processes: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Worker processes for CPU-bound extraction, started on first use; empty: cores - 1 (at least 1).",
    )
    extraction_budget_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Longest one attempt at a job may compute (extracting, reconciling) before it fails.",
    )


class LLMSettings(Section):
    """How to reach the chat model of the `llm` extractor (the model itself can be changed per tenant)."""

    model: str | None = Field(
        None,
        description="litellm model string, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
        "ollama/llama3.1, or openai/<name> with api_base for vLLM and other OpenAI-compatible servers.",
    )
    api_base: str | None = Field(None, description="Base URL of the provider (Ollama, vLLM, proxies).")
    api_key: SecretStr | None = Field(None, description="API key; else the provider's usual environment variable.")
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="Longest wait for one model reply.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries of one call on timeouts, 429 and 5xx.")
    retry_backoff_seconds: float = Field(1.0, ge=0, le=60, description="First retry delay; doubles each retry.")
    max_output_tokens: int = Field(2_000, ge=64, le=32_000, description="Longest reply the model may write.")


DEFAULT_TTLS: dict[str, int] = {
    "one_day": 86_400,
    "one_week": 7 * 86_400,
    "one_month": 30 * 86_400,
    "one_quarter": 91 * 86_400,
    "one_year": 365 * 86_400,
}


class EpisodeConfig(Section):
    """Which stored messages become searchable episodes, which are searched by default, and for how long."""

    enabled: bool = Field(True, description="Index messages as episodes and search them (off: facts only).")
    roles: list[MessageRole] = Field(
        default_factory=lambda: ["user", "assistant"], description="Roles whose messages become episodes."
    )
    search_roles: list[MessageRole] = Field(
        default_factory=lambda: ["user"], description="Roles searched when a request names none."
    )
    retention_days: int | None = Field(
        None, ge=1, le=36_500, description="Delete episodes (their messages) older than this; empty: keep them."
    )


class SignalsConfig(Section):
    """Per-message signals (sentiment, topics, intentions, price sensitivity) and what they add up to per user."""

    enabled: bool = Field(True, description="Analyse each processed message of `roles` and keep the user's aggregates.")
    roles: list[MessageRole] = Field(default_factory=lambda: ["user"], description="Roles whose messages are analysed.")
    taxonomy: Taxonomy = Field(
        default_factory=default_taxonomy,
        description="The topics and intentions to detect (label, description, examples, cues) and their thresholds; "
        "null: the built-in taxonomy for customer conversations.",
    )
    aggregates: AggregateConfig = Field(default_factory=AggregateConfig, description="Window, trend and churn risk.")

    @field_validator("taxonomy", mode="before")
    @classmethod
    def _default_taxonomy(cls, value: Any) -> Any:
        return default_taxonomy() if value is None else value


class ExtractionConfig(Section):
    """The operator-editable extraction settings; each change is a new version."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    extractor: str = Field("rules", description="Registered extractor name: rules (offline) or llm.")
    model: str | None = Field(None, description="litellm model for the llm extractor; empty: llm.model.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the llm extractor.")
    extraction_definition_prompt: str | None = Field(
        None,
        min_length=1,
        max_length=20_000,
        validation_alias=AliasChoices("extraction_definition_prompt", "profile_content_definition_prompt"),
        description="What to extract (replaces the default list). Older name: profile_content_definition_prompt.",
    )
    context_prompt: str | None = Field(
        None, min_length=1, max_length=20_000, description="Background about the app, given to the model."
    )
    should_extract_prompt: str | None = Field(
        None,
        min_length=1,
        max_length=20_000,
        validation_alias=AliasChoices("should_extract_prompt", "should_extract_profile_prompt_override"),
        description="A condition: extract only when it holds. Older name: should_extract_profile_prompt_override.",
    )
    static_definition: str = Field(
        "stable, long-term facts: identity, lasting preferences, relationships, work, skills, health conditions.",
        min_length=1,
        max_length=2_000,
        description="What counts as a static fact.",
    )
    dynamic_definition: str = Field(
        "recent or temporary context that stops being true: current projects, plans, trips, moods, events.",
        min_length=1,
        max_length=2_000,
        description="What counts as a dynamic fact.",
    )
    ttl_seconds: dict[TtlName, TtlSeconds] = Field(
        default_factory=lambda: dict(DEFAULT_TTLS),
        description="Lifetime in seconds of each TTL name the model may choose; names left out keep their default.",
    )

    @field_validator("ttl_seconds")
    @classmethod
    def _fill_ttls(cls, value: dict[str, int]) -> dict[str, int]:
        return {**DEFAULT_TTLS, **value}

    reconcile_with_llm: bool = Field(
        True,
        description="With the llm extractor, let the model decide ADD/UPDATE/DELETE/NONE against related facts "
        "(in the extraction call, which is then shown them).",
    )
    known_facts_limit: int = Field(
        30,
        ge=0,
        le=200,
        description="With reconcile_with_llm: how many of the user's stored facts (the nearest to what they said) the "
        "extraction prompt lists so that the same model call reconciles, ~30 prompt tokens each; 0 lists none and "
        "reconciles in a call of its own.",
    )
    dynamic_ttl_seconds: TtlSeconds = Field(
        7 * 86_400, description="Lifetime of a dynamic fact with no TTL of its own."
    )
    duplicate_threshold: float = Field(
        0.9, ge=0, le=1, description="Cosine at or above which a candidate repeats an existing fact (no-op)."
    )
    related_threshold: float = Field(
        0.5, ge=0, le=1, description="Cosine above which existing facts are compared with a candidate."
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Candidates below this confidence are dropped.")
    sources: list[Identifier] = Field(
        default_factory=list, description="Only extract from interactions with these sources (empty: all)."
    )
    extractor_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the chosen extractor beyond the settings above (a third party's), checked by it.",
    )
    roles: list[MessageRole] = Field(
        default_factory=lambda: ["user"], description="Message roles facts are taken from."
    )
    episodes: EpisodeConfig = Field(
        default_factory=EpisodeConfig, description="Stored messages as searchable episodes (keys left out are kept)."
    )
    signals: SignalsConfig = Field(
        default_factory=SignalsConfig, description="Message signals and user aggregates (keys left out are kept)."
    )
