"""A local OpenAI-compatible server for the side-by-side benchmark: the same MiniLM vectors and the same scripted
facts for mem0 and for this server, with no network and no real model.

    .venv/bin/python benchmarks/peers/openai_server.py --port 8901 --delay 0.3

`POST /v1/embeddings` embeds with the package's own embedder (`OnnxMiniLMEmbedder`, the bundled all-MiniLM-L6-v2
int8 files), so mem0 gets exactly the vectors this server computes in-process. `POST /v1/chat/completions`
recognises the three prompts the benchmark meets and answers at once (or after `--delay` seconds, the stand-in
for a real model's latency):

- mem0's additive extraction (2.x, one call per `add()`): `{"memory": [{"id": "0", "text": ...}]}`;
- our llm extractor: `{"facts": [{"content", "kind", "confidence", "message"}]}`, and `"action": "ADD"` on each
  fact when the prompt lists the user's known facts (the extraction then reconciles too);
- our llm reconciler: `{"decisions": [...]}`, ADD for every new fact (mem0 2.x only ever adds, too).

The facts come from the user messages alone, through `facts_of`, so one conversation yields the same facts in both
systems. Any other prompt is answered with HTTP 400, so a change in either prompt shows up as failed calls rather
than as silently different work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from memory_server.index.minilm import MINILM_MODEL_ID, OnnxMiniLMEmbedder  # noqa: E402
from tests.openai_fake import (  # noqa: E402
    FakeOpenAIServer,
    Reply,
    Request,
    chat_completion,
    embedding_inputs,
    embedding_list,
    error,
)

MEM0_EXTRACTION = "You are a Memory Extractor"
OUR_EXTRACTION = "You extract memories about a user from a conversation"
OUR_RECONCILE = "You keep a user's memory consistent"
OUR_KNOWN = "Known facts:\n"
_MEM0_NEW = re.compile(r"## New Messages\n(.*?)\n\n## ", re.S)
_OUR_LINE = re.compile(r"^\[(\d+)\] \S+ \S+ UTC (\w+): (.*)$", re.M)
_OUR_NEW_FACT = re.compile(r"^\[(\d+)\] ", re.M)
_FIRST_PERSON = [
    (re.compile(r"\bI'm\b"), "User is"),
    (re.compile(r"\bI've\b"), "User has"),
    (re.compile(r"\bI\b"), "User"),
    (re.compile(r"\b[Mm]y\b"), "User's"),
    (re.compile(r"\b[Mm]e\b"), "User"),
]


def facts_of(message: str) -> list[str]:
    """The scripted facts of one user message: each statement (not a question) in the third person."""
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+", message.strip()):
        if not sentence or sentence.endswith("?"):
            continue
        for pattern, replacement in _FIRST_PERSON:
            sentence = pattern.sub(replacement, sentence)
        out.append(sentence.rstrip(".!"))
    return out


def mem0_reply(user_prompt: str) -> dict[str, Any]:
    """mem0 sends the new messages as lines "role: content"; only the user's count, as in our extractor."""
    found = _MEM0_NEW.search(user_prompt + "\n\n## ")
    lines = found.group(1).splitlines() if found else []
    facts = [f for line in lines if line.startswith("user: ") for f in facts_of(line[len("user: ") :])]
    return {"memory": [{"id": str(i), "text": text} for i, text in enumerate(facts)]}


def our_extraction_reply(user_prompt: str) -> dict[str, Any]:
    decided = {"action": "ADD", "ids": []} if user_prompt.startswith(OUR_KNOWN) else {}
    facts = [
        {"content": text, "kind": "static", "ttl": None, "confidence": 0.9, "message": int(index), **decided}
        for index, role, content in _OUR_LINE.findall(user_prompt)
        if role == "user"
        for text in facts_of(content)
    ]
    return {"facts": facts}


def our_reconcile_reply(user_prompt: str) -> dict[str, Any]:
    new = user_prompt.split("New facts:\n", 1)[-1]
    return {"decisions": [{"new": int(i), "action": "ADD", "ids": []} for i in _OUR_NEW_FACT.findall(new)]}


def chat_reply(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The scripted JSON answer to a chat request, or None for a prompt this server does not know."""
    system = next((str(m.get("content")) for m in messages if m.get("role") == "system"), "")
    user = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")
    if MEM0_EXTRACTION in system:
        return mem0_reply(user)
    if system.startswith(OUR_EXTRACTION):
        return our_extraction_reply(user)
    if system.startswith(OUR_RECONCILE):
        return our_reconcile_reply(user)
    return None


class FakeOpenAI(FakeOpenAIServer):
    """The server on 127.0.0.1 (port 0: any free port), serving from a daemon thread; counts the calls it answers."""

    keep_alive = True  # as the openai SDK and litellm expect

    def __init__(self, port: int = 0, delay: float = 0.0, threads: int = 2) -> None:
        self.delay = delay
        self.calls = {"embeddings": 0, "texts_embedded": 0, "chat": 0, "unscripted": 0}
        self._lock = threading.Lock()
        self._embedder = OnnxMiniLMEmbedder(threads=threads)
        # One event loop for the embedder's async API, shared by the handler threads.
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        super().__init__(port)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def embed(self, texts: list[str]) -> list[list[float]]:
        future = asyncio.run_coroutine_threadsafe(self._embedder.embed(texts), self._loop)
        return future.result().tolist()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.calls[key] += n

    def get(self, path: str) -> Reply:
        if not path.rstrip("/").endswith("/calls"):
            return super().get(path)
        with self._lock:
            return 200, dict(self.calls)

    def embeddings(self, request: Request) -> Reply:
        texts = embedding_inputs(request.body)
        if texts is None:
            return error(400, "input must be a string or a list of strings", "invalid_request")
        vectors = self.embed(texts)
        self._count("embeddings")
        self._count("texts_embedded", len(texts))
        return embedding_list(MINILM_MODEL_ID, vectors, prompt_tokens=sum(len(t.split()) for t in texts))

    def chat(self, request: Request) -> Reply:
        reply = chat_reply(request.body.get("messages") or [])
        if reply is None:
            self._count("unscripted")
            return error(400, "unscripted prompt", "invalid_request")
        if self.delay:
            time.sleep(self.delay)
        self._count("chat")
        return chat_completion(request.body.get("model", "fake"), json.dumps(reply))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on start)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chat reply")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the embedder")
    args = parser.parse_args()
    with FakeOpenAI(args.port, args.delay, args.threads) as fake:
        print(fake.api_base, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
