"""The plumbing of a fake OpenAI-compatible server on 127.0.0.1, and the shapes of its requests and replies.

The tests' scripted LLM (`tests/llm_server.py`), the litellm embedder tests and the peers benchmark's server
(`benchmarks/peers/openai_server.py`) each decide what to answer; this module is the one place that knows how a
real client (litellm, the openai SDK) talks to such a server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Request:
    """One POST: its path, its Authorization header and its JSON body."""

    path: str
    auth: str | None
    body: dict[str, Any]


def error(status: int, message: str, kind: str = "server_error") -> Reply:
    """An error in OpenAI's shape, which litellm turns into the matching exception."""
    return status, {"error": {"message": message, "type": kind}}


def chat_completion(model: str, content: str, usage: bool = True) -> Reply:
    """A chat completion whose one choice says `content`; without `usage`, as a provider that reports none."""
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage:
        payload["usage"] = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    return 200, payload


def embedding_inputs(body: dict[str, Any]) -> list[str] | None:
    """The texts of an embeddings request (`input` is one string or a list of them), or None when it is neither."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return None
    return texts


def embedding_list(model: str, vectors: Sequence[Sequence[float]], prompt_tokens: int) -> Reply:
    """The answer to an embeddings request, one vector per input in input order (`index` ties them)."""
    data = [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return 200, {"object": "list", "data": data, "model": model, "usage": usage}


class FakeOpenAIServer:
    """Serves `.../chat/completions` and `.../embeddings` from a daemon thread; a subclass overrides what it answers.

    `keep_alive` speaks HTTP/1.1 as the openai SDK expects; its handler threads are then daemons, because an idle
    kept-alive connection would otherwise hold `server_close()` forever.
    """

    keep_alive = False

    def __init__(self, port: int = 0) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = self.keep_alive
        self.api_base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def chat(self, request: Request) -> Reply:
        """The answer to POST .../chat/completions."""
        return error(404, f"no route {request.path}", "invalid_request")

    def embeddings(self, request: Request) -> Reply:
        """The answer to POST .../embeddings."""
        return error(404, f"no route {request.path}", "invalid_request")

    def get(self, path: str) -> Reply:
        """The answer to a GET (none by default)."""
        return error(404, f"no route {path}", "invalid_request")


def _handler(owner: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class that routes to `owner` and writes its replies as JSON."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if owner.keep_alive else "HTTP/1.0"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body would wait for the client's
        # delayed ACK (~40 ms on Linux) and every call would pay it.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._send(*owner.get(self.path))

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            request = Request(self.path, self.headers.get("Authorization"), body)
            if self.path.endswith("/embeddings"):
                return self._send(*owner.embeddings(request))
            if self.path.endswith("/chat/completions"):
                return self._send(*owner.chat(request))
            self._send(*error(404, f"no route {self.path}", "invalid_request"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a scripted timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
