"""The llm extractor on its own: signals asked for in the same call as the facts, and read back from its reply."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from extractors.base import (
    CandidateFact,
    Extraction,
    ExtractionContext,
    Message,
    SignalRequest,
    as_extraction,
    extract_blocking,
)
from extractors.llm import LLMExtractor
from extractors.llm_client import ModelCall
from extractors.signals import MessageSignals
from extractors.taxonomy import default_taxonomy
from tests.llm_server import ScriptedLLM

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
WANTED = SignalRequest.of(default_taxonomy(), ["user"])


def extractor(llm: ScriptedLLM, model: str = "openai/fake-chat") -> LLMExtractor:
    call = ModelCall(model=model, api_base=llm.api_base, api_key="sk-test", max_retries=0)
    ttls = {"one_day": 86_400, "one_week": 604_800, "one_month": 1, "one_quarter": 1, "one_year": 1}
    return LLMExtractor(call=call, static_definition="lasting.", dynamic_definition="passing.", ttl_seconds=ttls)


def conversation(*turns: tuple[str, str]) -> list[Message]:
    return [Message(role=role, content=text, created_at=NOW) for role, text in turns]  # type: ignore[arg-type]


def rated(message: int, sentiment: float = 0.0, **more: object) -> dict:
    return {"message": message, "sentiment": sentiment, **more}


async def test_signals_come_back_per_message_index_only_for_the_wanted_roles(llm):
    llm.json_reply(
        {
            "facts": [{"content": "User is a nurse", "kind": "static", "message": 0}],
            "signals": [
                rated(0, -0.5, topics={"billing": 0.4, "BUGS ": 0.8}, intentions=["Needs help"]),
                rated(0, 0.9),  # a second entry for the same message: the first stands
                rated(1, 0.8),  # the assistant's message: not the model's to rate
                rated(7, 0.1),  # no such message
                rated(2, 0.2, price_sensitive=True),
            ],
        }
    )
    messages = conversation(("user", "I'm a nurse, the app crashes"), ("assistant", "Sorry!"), ("user", "too pricey"))
    found = await extractor(llm).extract(messages, ExtractionContext(user_id="u", now=NOW, signals=WANTED))
    assert [f.content for f in found.facts] == ["User is a nurse"]
    assert found.signals == {
        0: MessageSignals(sentiment=-0.5, topics={"bugs": 0.8, "billing": 0.4}, intentions=["needs help"]),
        2: MessageSignals(sentiment=0.2, price_sensitive=True),
    }


async def test_a_model_that_takes_schemas_gets_the_signals_in_the_schema_only_when_asked(llm):
    messages = conversation(("user", "hello"))
    await extractor(llm, "openai/gpt-4o-mini").extract(messages, ExtractionContext(user_id="u", now=NOW))
    await extractor(llm, "openai/gpt-4o-mini").extract(
        messages, ExtractionContext(user_id="u", now=NOW, signals=WANTED)
    )
    plain, asked = (r["response_format"]["json_schema"] for r in llm.requests)
    assert plain["name"] == "ExtractionReply" and "signals" not in plain["schema"]["properties"]
    assert asked["name"] == "SignalsReply" and "signals" in asked["schema"]["properties"]
    sentiment = asked["schema"]["$defs"]["RatedMessage"]["properties"]["sentiment"]
    assert (sentiment["minimum"], sentiment["maximum"]) == (-1, 1)


async def test_no_message_of_the_signal_roles_means_no_signals_asked(llm):
    wanted = WANTED.model_copy(update={"roles": ["assistant"]})
    found = await extractor(llm).extract(
        conversation(("user", "I'm a nurse")), ExtractionContext(user_id="u", now=NOW, signals=wanted)
    )
    assert found == Extraction()
    assert "sentiment" not in llm.prompts(0)


async def test_the_added_prompt_stays_compact(llm):
    from extractors import tokens

    plain = extractor(llm).system_prompt(ExtractionContext(user_id="u", now=NOW), None)
    asked = extractor(llm).system_prompt(ExtractionContext(user_id="u", now=NOW), WANTED)
    labels = "\n".join(f"{x.name}: {x.description}" for x in (*WANTED.topics, *WANTED.intentions))
    assert tokens.count(asked) - tokens.count(plain) - tokens.count(labels) <= 160  # 154 today


def test_the_prompt_takes_facts_from_the_configured_roles():
    ttls = {"one_day": 1, "one_week": 1, "one_month": 1, "one_quarter": 1, "one_year": 1}

    def prompt(roles: list[str]) -> str:
        made = LLMExtractor(static_definition="lasting.", dynamic_definition="passing.", ttl_seconds=ttls, roles=roles)
        return made.system_prompt(ExtractionContext(user_id="u", now=NOW), None)

    alone = prompt(["user"])
    assert "from the user's own messages" in alone and "never attribute to the user what the assistant said" in alone
    both = prompt(["user", "assistant"])
    assert "from the messages of roles user, assistant; messages of other roles are context" in both
    assert "user's own messages" not in both and "never attribute to the user what the assistant said" not in both


class _Plain:
    name = "plain"

    async def extract(self, messages, context) -> list[CandidateFact]:
        return [CandidateFact(content="User is a nurse", kind="static")]


class _Rating:
    name = "rating"

    async def extract(self, messages, context) -> Extraction:
        return Extraction(signals={0: MessageSignals(sentiment=-0.25)})


def test_a_plain_list_of_facts_still_works_and_signals_cross_the_worker_boundary():
    context = ExtractionContext(user_id="u", now=NOW, signals=WANTED)
    plain, _ = extract_blocking(_Plain(), conversation(("user", "x")), context)
    assert plain == Extraction(facts=[CandidateFact(content="User is a nurse", kind="static")])
    rating, _ = extract_blocking(_Rating(), conversation(("user", "x")), context)
    assert rating.signals == {0: MessageSignals(sentiment=-0.25)}
    assert as_extraction(rating) is rating
    assert pickle.loads(pickle.dumps((rating, context))) == (rating, context)  # what a worker process sends back


async def test_a_messages_time_is_shown_as_its_sender_saw_it_with_the_offset_named(llm):
    from datetime import timedelta, timezone

    llm.json_reply({"facts": []})
    east = datetime(2026, 11, 25, 1, 30, tzinfo=timezone(timedelta(hours=5)))
    said = [Message(role="user", content="I was ill yesterday", created_at=east), *conversation(("user", "ok"))]
    await extractor(llm).extract(said, ExtractionContext(user_id="u", now=NOW))
    prompt = llm.prompts(0)
    assert "[0] 2026-11-25 01:30 UTC+05:00 user: I was ill yesterday" in prompt
    assert "[1] 2026-05-01 09:00 UTC user: ok" in prompt
