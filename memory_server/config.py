"""Settings: loaded once from YAML, overridden by MEMORY_SERVER_* environment variables.

Two layers live here. `Settings` is the server's own configuration (where data lives, which embedder,
limits), fixed at start-up. `ExtractionConfig` is what operators edit at run time through
`PUT /v1/config`; the settings only give its first version.
"""

from __future__ import annotations

import ipaddress
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from extractors.base import MessageRole, TtlName
from extractors.signals import Taxonomy
from extractors.taxonomy import default_taxonomy
from memory_server.aggregates import AggregateConfig
from memory_server.plugins import EMBEDDERS
from memory_server.schemas import Identifier, TtlSeconds
from memory_server.store.db import Database, connect

CONFIG_ENV = "MEMORY_SERVER_CONFIG"
_config_file: ContextVar[str | None] = ContextVar("config_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8765, ge=1, le=65535, description="Port to listen on.")
    insecure: bool = Field(
        False, description="Serve without API keys on a non-loopback address (never do this on a shared network)."
    )
    allow_open: bool = Field(
        False,
        description="Serve without API keys although this data directory has had keys (all now revoked). "
        "Only for recovering access; the start is recorded in the change log. Without it, revoking the last key "
        "never reopens the server.",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values (names or addresses, any port) this server answers to, against DNS "
        "rebinding. Unset: 127.0.0.1, localhost and [::1] when listening on loopback, any host otherwise; "
        "['*'] turns the check off.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) of other sites allowed to send state-changing requests; "
        "pages served from an allowed host are always allowed.",
    )
    console_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="The key that signs console sessions; give every server behind one address the same one "
        "(several processes on PostgreSQL). Unset: each data directory makes and keeps its own.",
    )

    @property
    def on_loopback(self) -> bool:
        """Listening only where this machine alone can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class EmbedderSettings(_Section):
    provider: str = Field(
        "onnx-minilm",
        description="An installed embedder (entry-point group memory_server.embedders): onnx-minilm, the bundled "
        "all-MiniLM-L6-v2 (offline); litellm, any model litellm reaches; or a third party's.",
    )
    model: str | None = Field(None, description="litellm embedding model, e.g. openai/text-embedding-3-small.")
    api_base: str | None = Field(None, description="Base URL for the litellm provider (Ollama, vLLM, proxies).")
    api_key: SecretStr | None = Field(None, description="API key for the litellm provider; else its usual env var.")
    dimensions: int | None = Field(None, ge=1, le=8192, description="Requested output size, where the model allows.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads for the bundled ONNX model.")
    query_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="CPU threads for one text at a time (a search query), on its own session of the bundled "
        "model: a query never waits behind a batch, and leaves a core to the reads that run beside it.",
    )
    batch_size: int = Field(32, ge=1, le=1024, description="Texts embedded per call.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Further options of the chosen embedder (a third party's), checked by it."
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("provider")
    @classmethod
    def _installed(cls, name: str) -> str:
        if name not in EMBEDDERS.names():
            raise ValueError(f"unknown embedder {name!r}: choose one of {', '.join(EMBEDDERS.names())}")
        return name


class McpSettings(_Section):
    user: Identifier | None = Field(None, description="The user `memory-server mcp` serves (else --user or env).")


class AgentSettings(_Section):
    """Read by `memory-server hook` (without importing this module) and `memory-server mcp --agent-user`."""

    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The server the agent plugin talks to; empty: this file's server.host and server.port.",
    )
    api_key: str | None = Field(None, description="The API key the agent plugin sends (else none).")
    user: Identifier | None = Field(None, description="Whose memory the agent plugin keeps; empty: the OS user.")
    user_per_project: bool = Field(False, description="One memory per project directory (user:project-hash).")


class WorkerSettings(_Section):
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


class LimitSettings(_Section):
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Largest accepted request body.")
    max_messages: int = Field(200, ge=1, description="Messages in one interaction.")
    max_batch_users: int = Field(1_000, ge=1, description="Users in one batch of interactions (Cipres's users).")
    max_content_chars: int = Field(20_000, ge=1, description="Characters in one message or fact.")
    max_top_k: int = Field(100, ge=1, description="Largest top_k a search may ask for.")
    max_page_size: int = Field(500, ge=1, description="Largest page of facts or change-log rows.")
    max_attributes_bytes: int = Field(8_192, ge=2, description="Size of a JSON attributes object.")
    requests_per_minute: int = Field(600, ge=1, description="Per API key; more answers 429 with Retry-After.")
    auth_failures_per_minute: int = Field(
        20, ge=1, description="Requests with a wrong key per client address; more answers 429 with Retry-After."
    )


class SearchSettings(_Section):
    default_top_k: int = Field(10, ge=1, description="Results when top_k is not given.")
    default_threshold: float = Field(
        0.45, ge=0, le=1, description="Minimum score when none is given (scores are calibrated for all-MiniLM-L6-v2)."
    )
    keyword_weight: float = Field(
        0.35, ge=0, le=1, description="How far a keyword match lifts a fact towards a perfect score."
    )
    episode_keyword_weight: float = Field(
        0.1,
        ge=0,
        le=1,
        description="The same for an episode: lower, as chat shares common words by chance (see benchmarks/recall).",
    )
    exact_max_facts: int = Field(
        5_000, ge=1, description="Users with more live facts than this are searched through the vector index."
    )


class ProfileSettings(_Section):
    """The unified profile (`GET /v1/users/{id}/profile`): named sections, built concurrently."""

    section_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Longest one section may take, unless its provider declares its own budget."
    )


class ProfileCacheSettings(_Section):
    """The per-turn profile without `q` (`POST /v1/profile`), kept per user until anything of theirs changes."""

    users: int = Field(
        1_000, ge=0, le=1_000_000, description="Users whose profiles are kept (least recently served go first; 0: off)."
    )
    seconds: float = Field(
        60.0,
        gt=0,
        le=3_600,
        description="Longest an answer is kept although nothing changed (dynamic facts' ranking ages with time).",
    )


class WebhookSettings(_Section):
    """Delivering events (signed webhooks) to the URLs tenants register."""

    allow_private: bool = Field(
        False,
        description="Deliver to private, loopback, link-local and other non-public addresses (off: refused at "
        "creation for an address, and at every delivery for each address a name resolves to).",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Longest one delivery attempt may take.")
    max_attempts: int = Field(10, ge=1, le=50, description="Tries before a delivery is marked failed.")
    backoff_base_seconds: float = Field(30.0, ge=0, le=86_400, description="First retry delay; doubles each try.")
    backoff_max_seconds: float = Field(3_600.0, ge=0, le=7 * 86_400, description="Longest delay between tries.")
    concurrency: int = Field(4, ge=1, le=64, description="Deliveries in flight at once.")
    max_per_tenant: int = Field(50, ge=1, le=1_000, description="Webhooks one tenant may register.")
    retention_days: int = Field(
        30, ge=1, le=3_650, description="Delivered and failed deliveries (and their events) are deleted after this."
    )


class LLMSettings(_Section):
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


class EpisodeConfig(_Section):
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


class SignalsConfig(_Section):
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


class ExtractionConfig(_Section):
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
        True, description="With the llm extractor, let the model decide ADD/UPDATE/DELETE/NONE against related facts."
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


class RetrievalLogSettings(_Section):
    """What each profile and search returned, per user (memory_server.retrieval_log)."""

    enabled: bool = Field(
        True, description="Record what each profile and search returned (GET /v1/users/{id}/retrievals)."
    )
    retention_days: int = Field(30, ge=1, le=3_650, description="Days an entry is kept before it is swept.")
    flush_seconds: float = Field(
        1.0, gt=0, le=60, description="How often buffered entries are written; a crash loses at most this much."
    )


class StorageSettings(_Section):
    """Where the truth is kept (memory_server.store)."""

    url: str | None = Field(
        None,
        pattern=r"^(postgres(ql)?://|sqlite:///)",
        description="postgresql://user:password@host/db for PostgreSQL (several processes on one database), "
        "sqlite:///path for a SQLite file elsewhere; null: memory.sqlite3 in the data directory.",
    )
    pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connections one process may hold at once.")


class IndexSettings(_Section):
    """Where the rebuildable vector index lives (memory_server.index.chroma)."""

    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="A Chroma server (http://host:8000, started with `chroma run`), which several processes can "
        "share; null: Chroma embedded in the data directory (one process).",
    )


class Settings(BaseSettings):
    """Everything the server reads at start-up. See config.example.yaml for each setting."""

    model_config = SettingsConfigDict(
        env_prefix="MEMORY_SERVER_", env_nested_delimiter="__", extra="forbid", yaml_file=None
    )

    data_dir: Path = Field(Path("./data"), description="SQLite database and Chroma index live here.")
    tenant: Identifier = Field("default", description="Tenant served when no keys exist.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    storage: StorageSettings = Field(default_factory=StorageSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    profile_cache: ProfileCacheSettings = Field(default_factory=ProfileCacheSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    retrieval_log: RetrievalLogSettings = Field(default_factory=RetrievalLogSettings)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get() or os.environ.get(CONFIG_ENV)
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "memory.sqlite3"

    def database(self) -> Database:
        """The store `storage.url` names (unopened)."""
        return connect(self.storage.url, self.db_path, pool_size=self.storage.pool_size)

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def chroma_location(self) -> Path | str:
        """The Chroma server `index.url` names, or else the embedded index's directory."""
        return self.index.url or self.chroma_path


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad setting."""


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from `config_file` (or $MEMORY_SERVER_CONFIG) and the environment.

    Raises ConfigError with one "path: message" line per problem.
    """
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError(f"config file {config_file} not found: create it (see config.example.yaml) or drop --config")
    token = _config_file.set(str(config_file) if config_file is not None else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"{where}: {err['msg']}")
        hint = "fix these in the config file or the MEMORY_SERVER_* environment variables (see config.example.yaml)"
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines) + f"\n{hint}") from None
    except Exception as exc:  # a YAML syntax error, an unreadable file
        raise ConfigError(f"cannot read configuration: {exc}") from None
    finally:
        _config_file.reset(token)
