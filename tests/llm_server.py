"""A scripted OpenAI-compatible chat server on 127.0.0.1 that the real litellm client talks to."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from tests.openai_fake import FakeOpenAIServer, Reply, Request, chat_completion, error


class ScriptedLLM(FakeOpenAIServer):
    """Answers POST /v1/chat/completions with the next scripted reply and records every request.

    A reply is a string (the message content), or a dict: {"status": 429} for an HTTP error,
    {"sleep": s, "content": ...} to answer late, {"until": threading.Event, "content": ...} to answer once the test
    sets the event, {"content": ..., "usage": False} to report no usage.
    """

    def __init__(self) -> None:
        self.replies: deque[str | dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.answered = 0  # replies sent (a request is recorded when it arrives)
        super().__init__()

    def queue(self, *replies: str | dict[str, Any]) -> None:
        self.replies.extend(replies)

    def json_reply(self, payload: dict[str, Any]) -> None:
        self.queue(json.dumps(payload))

    def prompts(self, i: int) -> str:
        """Everything the i-th request said, as one string."""
        return "\n".join(m["content"] for m in self.requests[i]["messages"])

    def chat(self, request: Request) -> Reply:
        self.requests.append({"path": request.path, "auth": request.auth, **request.body})
        reply = self.replies.popleft() if self.replies else '{"facts": []}'
        if isinstance(reply, str):
            reply = {"content": reply}
        if "status" in reply:
            return error(reply["status"], f"scripted {reply['status']}")
        if "sleep" in reply:
            time.sleep(reply["sleep"])
        if "until" in reply:
            reply["until"].wait(timeout=30)
        self.answered += 1
        return chat_completion(request.body["model"], reply["content"], usage=reply.get("usage", True))
