"""The `llm` extractor: any chat model litellm reaches reads the conversation and proposes facts.

Its reply is JSON validated against `ExtractionReply`; an unusable reply gets one repair attempt and
then fails the job with the raw reply kept, never a silent "no facts".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from extractors import prompts
from extractors.base import CandidateFact, ExtractionContext, ExtractionError, Message, MessageRole, TtlName
from extractors.llm_client import ModelCall, complete_json


class ExtractedFact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: str = Field(min_length=1, max_length=2_000)
    kind: Literal["static", "dynamic"]
    ttl: TtlName | None = None
    confidence: float = Field(0.8, ge=0, le=1)
    message: int | None = Field(None, ge=0)


class ExtractionReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: list[ExtractedFact] = Field(max_length=200)


class LLMOptions(BaseModel):
    """The llm extractor's options: where the model is (with its credentials) and the prompts."""

    model_config = ConfigDict(extra="forbid")

    call: ModelCall | None = None
    extraction_definition_prompt: str | None = None
    context_prompt: str | None = None
    should_extract_prompt: str | None = None
    static_definition: str
    dynamic_definition: str
    ttl_seconds: dict[TtlName, int]
    roles: list[MessageRole] = Field(default_factory=lambda: ["user"])


class LLMExtractor:
    """Built per job from the config of the moment, so a config change applies to the next job."""

    name = "llm"
    Options = LLMOptions

    def __init__(self, **options: Any) -> None:
        self.options = LLMOptions.model_validate(options)

    def _call(self) -> ModelCall:
        if self.options.call is None:
            raise ExtractionError("the llm extractor has no model: set `model` in the config or llm.model")
        return self.options.call

    def system_prompt(self, context: ExtractionContext) -> str:
        """The system prompt, filled now: today's date is the date of this call."""
        o = self.options
        return prompts.EXTRACTION_SYSTEM.format(
            today=context.now.strftime("%Y-%m-%d (%A)"),
            definition=o.extraction_definition_prompt or prompts.DEFAULT_DEFINITION,
            static_definition=o.static_definition,
            dynamic_definition=o.dynamic_definition,
            roles=", ".join(o.roles),
            condition=prompts.CONDITION.format(should_extract=o.should_extract_prompt)
            if o.should_extract_prompt
            else "",
            context=prompts.CONTEXT.format(context=o.context_prompt) if o.context_prompt else "",
        )

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        options, call = self.options, self._call()
        if not any(m.role in options.roles for m in messages):
            return []
        lines = [
            f"[{i}] {m.created_at.strftime('%Y-%m-%d %H:%M')} UTC {m.role}: {m.content}" for i, m in enumerate(messages)
        ]
        chat = [
            {"role": "system", "content": self.system_prompt(context)},
            {"role": "user", "content": prompts.CONVERSATION.format(messages="\n".join(lines))},
        ]
        reply = await complete_json(call, chat, ExtractionReply, context.usage)
        facts = []
        for item in reply.facts:
            from_message = item.message is not None and item.message < len(messages)
            if from_message and messages[item.message].role not in options.roles:
                continue  # the model attributed someone else's words to the user
            facts.append(
                CandidateFact(
                    content=item.content.strip(),
                    kind=item.kind,
                    ttl_seconds=options.ttl_seconds.get(item.ttl) if item.kind == "dynamic" and item.ttl else None,
                    confidence=item.confidence,
                    message_indexes=[item.message] if from_message else [],
                )
            )
        return facts
