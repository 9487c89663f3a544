"""The `llm` extractor: any chat model litellm reaches reads the conversation and proposes facts.

When the server wants signals (`context.signals`), the same call also rates each message of the signal roles
(sentiment, topics, intentions, price sensitivity): one call per request, one JSON reply. The reply is validated
against `ExtractionReply` (or `SignalsReply`); an unusable one, a sentiment of 3.0 as much as broken JSON, gets
one repair attempt and then fails the job with the raw reply kept, never a silent "no facts". A label outside
the taxonomy is dropped (and logged), not a failure: the rest of the message's signals stand.

Given the user's related stored facts (`context.known`), the same call also reconciles: each fact says whether it
adds to, updates, retires or repeats them, and the reconciler needs no call of its own for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from extractors import identities, prompts
from extractors.base import (
    CandidateFact,
    Extraction,
    ExtractionContext,
    ExtractionError,
    Identity,
    KnownFact,
    Message,
    MessageRole,
    SignalRequest,
    StatedDecision,
    TtlName,
)
from extractors.llm_client import ModelCall, complete_json
from extractors.signals import MessageSignals

log = logging.getLogger(__name__)

Label = Annotated[str, Field(max_length=200)]


class ExtractedIdentity(BaseModel):
    """An identifier the model says the fact states; a type outside email/phone/handle leaves a plain fact."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=50)
    value: str = Field(min_length=1, max_length=320)
    label: str | None = Field(None, max_length=50)
    several: bool = False


class ExtractedFact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
    kind: Literal["static", "dynamic"]
    ttl: TtlName | None = None
    confidence: float = Field(0.8, ge=0, le=1)
    message: int | None = Field(None, ge=0)
    identity: ExtractedIdentity | None = None
    action: Literal["ADD", "UPDATE", "DELETE", "NONE"] | None = None
    ids: list[Annotated[str, Field(max_length=200)] | int] = Field(default_factory=list, max_length=200)


class ExtractionReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: list[ExtractedFact] = Field(max_length=200)


class RatedMessage(BaseModel):
    """One message's signals as the model gives them; numbers out of range make the reply unusable."""

    model_config = ConfigDict(extra="ignore")

    message: int = Field(ge=0)
    sentiment: float = Field(ge=-1, le=1)
    topics: dict[Label, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict, max_length=100)
    intentions: list[Label] = Field(default_factory=list, max_length=100)
    price_sensitive: bool = False


class SignalsReply(ExtractionReply):
    """The reply when signals are asked for too: the facts and one entry per rated message."""

    signals: list[RatedMessage] = Field(default_factory=list, max_length=1_000)


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
    decides = True

    def __init__(self, **options: Any) -> None:
        self.options = LLMOptions.model_validate(options)

    def _call(self) -> ModelCall:
        if self.options.call is None:
            raise ExtractionError("the llm extractor has no model: set `model` in the config or llm.model")
        return self.options.call

    def system_prompt(self, context: ExtractionContext, wanted: SignalRequest | None) -> str:
        """The system prompt, filled now (today's date is the date of this call), asking for `wanted` signals."""
        o = self.options
        signals, signals_shape = _signals_prompt(wanted) if wanted else ("", "")
        return prompts.EXTRACTION_SYSTEM.format(
            today=context.now.strftime("%Y-%m-%d (%A)"),
            definition=o.extraction_definition_prompt or prompts.DEFAULT_DEFINITION,
            static_definition=o.static_definition,
            dynamic_definition=o.dynamic_definition,
            sources=_sources_rule(o.roles),
            condition=prompts.CONDITION.format(should_extract=o.should_extract_prompt)
            if o.should_extract_prompt
            else "",
            context=prompts.CONTEXT.format(context=o.context_prompt) if o.context_prompt else "",
            signals=signals,
            signals_shape=signals_shape,
            decisions=prompts.DECISIONS if context.known else "",
            decision_shape=prompts.DECISION_SHAPE if context.known else "",
        )

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> Extraction:
        options, call = self.options, self._call()
        wanted = context.signals
        if wanted is not None and not any(m.role in wanted.roles for m in messages):
            wanted = None
        if wanted is None and not any(m.role in options.roles for m in messages):
            return Extraction()
        lines = [f"[{i}] {_said_at(m.created_at)} {m.role}: {m.content}" for i, m in enumerate(messages)]
        known = [
            prompts.KNOWN_LINE.format(i=i, content=f.content, kind=f.kind, said=f.said_at or f.updated_at)
            for i, f in enumerate(context.known)
        ]
        conversation = prompts.CONVERSATION.format(messages="\n".join(lines))
        chat = [
            {"role": "system", "content": self.system_prompt(context, wanted)},
            {"role": "user", "content": (prompts.KNOWN.format(known="\n".join(known)) if known else "") + conversation},
        ]
        reply = await complete_json(call, chat, SignalsReply if wanted else ExtractionReply, context.usage)
        facts = []
        others = any(m.role not in options.roles for m in messages)
        for item in reply.facts if any(m.role in options.roles for m in messages) else []:
            from_message = item.message is not None and item.message < len(messages)
            if from_message and messages[item.message].role not in options.roles:
                continue  # the model attributed someone else's words to the user
            if not from_message and others:
                continue  # no message named: it may be someone else's words, which are never taken for the user's
            indexes = [item.message] if from_message and item.message is not None else []
            facts.append(
                _identity_fact(item, indexes)
                or CandidateFact(
                    content=item.content,
                    kind=item.kind,
                    ttl_seconds=options.ttl_seconds.get(item.ttl) if item.kind == "dynamic" and item.ttl else None,
                    confidence=item.confidence,
                    message_indexes=indexes,
                    decision=_decision(item, context.known),
                )
            )
        signals = _signals(reply.signals, messages, wanted) if isinstance(reply, SignalsReply) and wanted else {}
        return Extraction(facts=facts, signals=signals)


def _sources_rule(roles: Sequence[MessageRole]) -> str:
    """The rule on which messages facts come from: said as the user's own unless `roles` names others too (the model
    would otherwise drop what it reads in the assistant's messages that the config asks for)."""
    if set(roles) == {"user"}:
        return prompts.SOURCES_USER
    return prompts.SOURCES_ROLES.format(roles=", ".join(roles))


def _decision(item: ExtractedFact, known: Sequence[KnownFact]) -> StatedDecision | None:
    """The model's action on the known facts, with their real ids (F3 or 3 is the fourth shown; others dropped)."""
    if item.action is None or not known:
        return None
    shown = [f.id for f in known]
    picked = []
    for ref in item.ids:
        label = str(ref).strip().upper().removeprefix("F")
        if label.isascii() and label.isdigit() and int(label) < len(shown):
            picked.append(shown[int(label)])
    return StatedDecision(action=item.action, ids=picked, considered=shown)


def _identity_fact(item: ExtractedFact, indexes: list[int]) -> CandidateFact | None:
    """The fact as an identity (normalised, on the topic a newer one of its type replaces), when it is one; a value
    that normalises to nothing ("unknown" as a phone) leaves a plain fact."""
    stated = item.identity
    if stated is None or stated.type.strip().lower() not in ("email", "phone", "handle"):
        return None
    try:
        return identities.identity_fact(
            Identity(type=stated.type.strip().lower(), value=stated.value),
            label=stated.label,
            several=stated.several,
            confidence=item.confidence,
            content=item.content,
            message_indexes=indexes,
        )
    except ValidationError:
        return None


def _signals_prompt(wanted: SignalRequest) -> tuple[str, str]:
    """The instructions asking for signals, and their part of the reply's JSON shape."""

    def lines(labels: Sequence[Any]) -> str:
        listed = (prompts.LABEL_LINE.format(name=x.name, description=x.description) for x in labels)
        return "\n".join(listed) or "  (none)"

    block = prompts.SIGNALS.format(
        roles=", ".join(wanted.roles), topics=lines(wanted.topics), intentions=lines(wanted.intentions)
    )
    return block, prompts.SIGNALS_SHAPE.format(topic=wanted.topics[0].name if wanted.topics else "topic")


def _signals(
    rated: list[RatedMessage], messages: Sequence[Message], wanted: SignalRequest
) -> dict[int, MessageSignals]:
    """The model's signals per message index: only for messages of the wanted roles (the first entry of each), with
    labels matched to the taxonomy's (ignoring case); labels outside it are dropped and logged."""
    topics = {t.name.strip().casefold(): t.name for t in wanted.topics}
    intentions = {i.name.strip().casefold(): i.name for i in wanted.intentions}
    out: dict[int, MessageSignals] = {}
    dropped: list[str] = []
    for item in rated:
        if item.message >= len(messages) or messages[item.message].role not in wanted.roles or item.message in out:
            continue
        scores: dict[str, float] = {}
        for label, score in item.topics.items():
            if (name := topics.get(label.strip().casefold())) is None:
                dropped.append(label)
            else:
                scores[name] = max(score, scores.get(name, 0.0))
        wants = []
        for label in item.intentions:
            if (name := intentions.get(label.strip().casefold())) is None:
                dropped.append(label)
            else:
                wants.append(name)
        out[item.message] = MessageSignals(
            sentiment=item.sentiment,
            topics=dict(sorted(scores.items(), key=lambda kv: -kv[1])),
            intentions=wants,
            price_sensitive=item.price_sensitive,
        )
    if dropped:
        log.warning("llm extractor: dropped %d signal label(s) outside the taxonomy: %s", len(dropped), dropped[:10])
    return out


def _said_at(at: datetime) -> str:
    """A message's time as its sender's clock showed it, with the offset named ("2026-11-25 01:30 UTC+05:00"), so
    that "yesterday" is read in the sender's day."""
    offset = at.utcoffset()
    if offset is None or not offset:
        return f"{at.strftime('%Y-%m-%d %H:%M')} UTC"
    sign, minutes = ("+" if offset.total_seconds() >= 0 else "-"), abs(int(offset.total_seconds())) // 60
    return f"{at.strftime('%Y-%m-%d %H:%M')} UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
