"""Settings: loaded once from YAML, overridden by MEMORY_SERVER_* environment variables.

Two layers live here. `Settings` is the server's own configuration (where data lives, which embedder,
limits), fixed at start-up. `ExtractionConfig` is what operators edit at run time through
`PUT /v1/config`; the settings only give its first version. Its sections live in modules by concept:
`storage`, `server`, `reads` and `extraction`.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from memory_server.config.extraction import (
    DEFAULT_TTLS,
    EpisodeConfig,
    ExtractionConfig,
    LLMSettings,
    SignalsConfig,
    WorkerSettings,
)
from memory_server.config.reads import ProfileCacheSettings, ProfileSettings, RetrievalLogSettings, SearchSettings
from memory_server.config.server import AgentSettings, LimitSettings, McpSettings, ServerSettings, WebhookSettings
from memory_server.config.storage import EmbedderSettings, IndexSettings, StorageSettings
from memory_server.errors import problem
from memory_server.schemas import Identifier
from memory_server.store.db import Database, connect

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_TTLS",
    "AgentSettings",
    "ConfigError",
    "EmbedderSettings",
    "EpisodeConfig",
    "ExtractionConfig",
    "IndexSettings",
    "LLMSettings",
    "LimitSettings",
    "McpSettings",
    "ProfileCacheSettings",
    "ProfileSettings",
    "RetrievalLogSettings",
    "SearchSettings",
    "ServerSettings",
    "Settings",
    "SignalsConfig",
    "StorageSettings",
    "WebhookSettings",
    "WorkerSettings",
    "load_settings",
]

CONFIG_ENV = "MEMORY_SERVER_CONFIG"
_config_file: ContextVar[str | None] = ContextVar("config_file", default=None)


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
            lines.append(f"{where}: {problem(err)}")
        hint = "fix these in the config file or the MEMORY_SERVER_* environment variables (see config.example.yaml)"
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines) + f"\n{hint}") from None
    except Exception as exc:  # a YAML syntax error, an unreadable file
        raise ConfigError(f"cannot read configuration: {exc}") from None
    finally:
        _config_file.reset(token)
