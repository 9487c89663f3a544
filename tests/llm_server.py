"""A scripted OpenAI-compatible chat server on 127.0.0.1 that the real litellm client talks to."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedLLM:
    """Answers POST /v1/chat/completions with the next scripted reply and records every request.

    A reply is a string (the message content), or a dict: {"status": 429} for an HTTP error,
    {"sleep": s, "content": ...} to answer late, {"content": ..., "usage": False} to report no usage.
    """

    def __init__(self) -> None:
        self.replies: deque[str | dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.api_base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def queue(self, *replies: str | dict[str, Any]) -> None:
        self.replies.extend(replies)

    def json_reply(self, payload: dict[str, Any]) -> None:
        self.queue(json.dumps(payload))

    def prompts(self, i: int) -> str:
        """Everything the i-th request said, as one string."""
        return "\n".join(m["content"] for m in self.requests[i]["messages"])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body go out in two writes; with Nagle's algorithm the body waits ~40 ms for the ACK.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                scripted.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                reply: str | dict[str, Any] = scripted.replies.popleft() if scripted.replies else '{"facts": []}'
                if isinstance(reply, str):
                    reply = {"content": reply}
                if "status" in reply:
                    error = {"error": {"message": f"scripted {reply['status']}", "type": "server_error"}}
                    return self._send(reply["status"], error)
                if "sleep" in reply:
                    time.sleep(reply["sleep"])
                payload: dict[str, Any] = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply["content"]},
                            "finish_reason": "stop",
                        }
                    ],
                }
                if reply.get("usage", True):
                    payload["usage"] = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
                self._send(200, payload)

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
