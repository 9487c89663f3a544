"""Any embedding model litellm reaches (OpenAI, Ollama, vLLM, a proxy...): the only embedder that uses
the network, and only inside `embed`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from extractors.runtime import import_litellm
from memory_server.index.embedders import EmbedderError, check_texts, normalize


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


class LiteLLMEmbedder:
    """An embedding model reached through litellm (OpenAI, Ollama, vLLM, a proxy...).

    `dim` is `dimensions` when given; otherwise it is learned from the first successful embed() and
    reading it before then raises EmbedderError (embed([]) before then returns shape (0, 0)).
    The API key stays a SecretStr until the provider call.
    """

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model: str = Field(min_length=1)
        api_base: str | None = None
        api_key: SecretStr | None = None
        dimensions: int | None = Field(None, ge=1, le=8192)
        batch_size: int = Field(32, ge=1, le=1024)

        @field_validator("model")
        @classmethod
        def _not_blank(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("must not be blank")
            return value

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: SecretStr | str | None = None,
        dimensions: int | None = None,
        batch_size: int = 32,
        timeout: float = 60.0,
    ) -> None:
        if not model.strip():
            raise ValueError("model must not be blank")
        self.model = model
        self.model_id = f"litellm:{model}"
        self._api_base = api_base
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._dimensions = dimensions
        self._dim = dimensions
        self._batch_size = batch_size
        self._timeout = timeout

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise EmbedderError(
                f"the vector size of {self.model_id} is known only after its first embed() call "
                "(set embedder.dimensions to fix it up front)"
            )
        return self._dim

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """See Embedder.embed; raises EmbedderError naming the model when the provider fails."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        parts = [
            await self._embed_batch(items[i : i + self._batch_size]) for i in range(0, len(items), self._batch_size)
        ]
        return np.vstack(parts)

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        litellm = import_litellm()
        key = self._api_key.get_secret_value() if self._api_key is not None else None
        options = {"api_base": self._api_base, "api_key": key, "dimensions": self._dimensions}
        kwargs = {name: value for name, value in options.items() if value is not None}
        try:
            response = await litellm.aembedding(model=self.model, input=texts, timeout=self._timeout, **kwargs)
        except Exception as exc:
            raise EmbedderError(f"embedding model {self.model!r} failed: {exc}") from exc
        try:
            # Providers may answer out of order; `index` says which input each vector belongs to.
            rows = sorted(response.data, key=lambda item: _field(item, "index"))
            vectors = np.asarray([_field(item, "embedding") for item in rows], dtype=np.float32)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"embedding model {self.model!r} returned an unreadable response: {exc}") from exc
        if vectors.ndim != 2 or len(vectors) != len(texts) or vectors.shape[1] == 0:
            raise EmbedderError(
                f"embedding model {self.model!r} returned {vectors.shape} vectors for {len(texts)} texts"
            )
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise EmbedderError(
                f"embedding model {self.model!r} returned {vectors.shape[1]}-wide vectors, expected "
                f"{self._dim} (embedder.dimensions or earlier calls)"
            )
        norms = np.linalg.norm(vectors, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise EmbedderError(f"embedding model {self.model!r} returned a zero or non-finite vector")
        self._dim = vectors.shape[1]
        return normalize(vectors)
