"""Text embeddings: the small Protocol every embedder implements, and building the configured one.

Every embedder returns float32 rows of unit length, so a dot product is the cosine. `model_id` is stored
with each vector: vectors from different models live in different spaces and are never compared.
Embedders are plugins (entry-point group `memory_server.embedders`); the built-ins, the bundled MiniLM
(`onnx-minilm`) and any model litellm reaches (`litellm`), are declared the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError

from extractors.registry import PluginError
from memory_server.config import EmbedderSettings
from memory_server.errors import Misconfigured, ServiceError, problem
from memory_server.plugins import EMBEDDERS


class EmbedderError(ServiceError):
    """Texts could not be embedded: a missing or changed model file, a provider error, a bad response."""

    status = 503
    code = "embedder_unavailable"


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of one model. (Not runtime_checkable: on 3.11
    isinstance() reads `dim`, which LiteLLMEmbedder may not know yet.)

    Capability: an embedder that runs a model in this process sets `local = True`; the server then embeds
    once at start-up, so the first user does not pay for loading it.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, rows L2-normalized, in input order."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; embedding it letter by letter is never what was meant.
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("embed() takes a sequence of strings")
    return list(texts)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


def create_embedder(settings: EmbedderSettings) -> Embedder:
    """The embedder the settings name, given the settings it declares in its `Options`.

    A setting the chosen embedder does not take must stay at its default (so one example config serves every
    provider); raises Misconfigured naming the setting that is wrong.
    """
    try:
        factory = EMBEDDERS.load(settings.provider)
    except PluginError as exc:
        raise Misconfigured(f"embedder.provider: {exc}", field="embedder.provider") from None
    declared = factory.Options.model_fields
    given: dict[str, Any] = {}
    for name in EmbedderSettings.model_fields.keys() - {"provider", "options"}:
        value = getattr(settings, name)
        if name in declared:
            if value is not None:
                given[name] = value
        elif value != EmbedderSettings.model_fields[name].default:
            raise Misconfigured(
                f"embedder.{name}: only used by embedders that take it, not {settings.provider} (set embedder.provider)"
            )
    try:
        options = factory.Options.model_validate({**given, **settings.options})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        wrong = f"required when provider is {settings.provider}" if first["type"] == "missing" else problem(first)
        raise Misconfigured(f"embedder.{where}: {wrong}") from None
    return factory(**dict(options))
