"""Where the data lives and how it is indexed: the store, the vector index and the embedder that fills it."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from memory_server.config.base import Section
from memory_server.plugins import EMBEDDERS


class StorageSettings(Section):
    """Where the truth is kept (memory_server.store)."""

    url: str | None = Field(
        None,
        pattern=r"^(postgres(ql)?://|sqlite:///)",
        description="postgresql://user:password@host/db for PostgreSQL (several processes on one database), "
        "sqlite:///path for a SQLite file elsewhere; null: memory.sqlite3 in the data directory.",
    )
    pool_size: int = Field(
        10,
        ge=1,
        le=200,
        description="Pooled PostgreSQL connections one process may hold at once (besides one for its locks and one "
        "listening for writes).",
    )

    @property
    def shared(self) -> bool:
        """Whether several processes may use the database (PostgreSQL) rather than one owning it (SQLite)."""
        return self.url is not None and self.url.startswith(("postgresql://", "postgres://"))


class IndexSettings(Section):
    """Where the rebuildable vector index lives (memory_server.index.chroma)."""

    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="A Chroma server (http://host:8000, started with `chroma run`), which several processes can "
        "share; null: Chroma embedded in the data directory (one process).",
    )


class EmbedderSettings(Section):
    provider: str = Field(
        "onnx-minilm",
        description="An installed embedder (entry-point group memory_server.embedders): onnx-minilm, the bundled "
        "all-MiniLM-L6-v2 (offline); litellm, any model litellm reaches; or a third party's.",
    )
    model: str | None = Field(None, description="litellm embedding model, e.g. openai/text-embedding-3-small.")
    api_base: str | None = Field(None, description="Base URL for the litellm provider (Ollama, vLLM, proxies).")
    api_key: SecretStr | None = Field(None, description="API key for the litellm provider; else its usual env var.")
    dimensions: int | None = Field(None, ge=1, le=8192, description="Requested output size, where the model allows.")
    threads: int = Field(2, ge=1, le=64, description="Chunks of a batch the bundled ONNX model embeds at once.")
    query_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Single texts (search queries) the bundled model embeds at once, on threads of their own: a "
        "query never waits behind a batch being embedded for ingest.",
    )
    threads_per_call: int = Field(
        2,
        ge=1,
        le=64,
        description="Cores one call of the bundled model may use (onnxruntime's intra-op threads, asleep when "
        "idle): a search query is embedded in ~25% less time on two than on one.",
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
