"""benchmarks/peers/openai_server.py: the vectors are the package's own, and one conversation gives mem0 and our llm
extractor the same facts through their real clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from benchmarks.peers.openai_server import FakeOpenAI, facts_of
from extractors import prompts
from extractors.base import ExtractionContext, KnownFact, Message, StatedDecision
from extractors.llm import LLMExtractor
from extractors.llm_client import ModelCall
from memory_server.index.minilm import MINILM_DIM, OnnxMiniLMEmbedder
from memory_server.reconcile_llm import ReconcileReply

SAID = ["I'm a nurse and I live in Oslo. Can you help me plan a trip?", "My sister Maya is 30 years old."]
EXPECTED = ["User is a nurse and User live in Oslo", "User's sister Maya is 30 years old"]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_statements_become_third_person_facts_and_questions_none():
    assert [f for m in SAID for f in facts_of(m)] == EXPECTED


async def test_embeddings_are_the_package_embedders_own_vectors(server):
    texts = ["I love pho", "User lives in Oslo", "I love pho"]
    answer = httpx.post(f"{server.api_base}/embeddings", json={"model": "minilm", "input": texts}).json()
    got = np.array([d["embedding"] for d in sorted(answer["data"], key=lambda d: d["index"])], dtype=np.float32)
    assert got.shape == (3, MINILM_DIM)
    np.testing.assert_array_equal(got[0], got[2])
    np.testing.assert_allclose(got, await OnnxMiniLMEmbedder().embed(texts), atol=1e-6)
    one = httpx.post(f"{server.api_base}/embeddings", json={"model": "minilm", "input": "I love pho"}).json()
    np.testing.assert_allclose(one["data"][0]["embedding"], got[0], atol=1e-5)  # one text: the query session


def test_mem0_reads_the_facts_from_its_own_prompt(server):
    from mem0.configs.llms.openai import OpenAIConfig
    from mem0.configs.prompts import ADDITIVE_EXTRACTION_PROMPT, generate_additive_extraction_prompt
    from mem0.llms.openai import OpenAILLM
    from mem0.memory.utils import parse_messages

    messages = [{"role": "user", "content": SAID[0]}, {"role": "assistant", "content": "Sure."}]
    messages.append({"role": "user", "content": SAID[1]})
    existing = [{"id": "0", "text": "User likes tea"}]
    prompt = generate_additive_extraction_prompt(existing_memories=existing, new_messages=parse_messages(messages))
    llm = OpenAILLM(OpenAIConfig(model="scripted", openai_base_url=server.api_base, api_key="sk-test"))
    reply = llm.generate_response(
        messages=[{"role": "system", "content": ADDITIVE_EXTRACTION_PROMPT}, {"role": "user", "content": prompt}],
        response_format={"type": "json_object"},
    )
    assert [m["text"] for m in json.loads(reply)["memory"]] == EXPECTED


async def test_our_extractor_gets_the_same_facts_and_the_reconciler_adds_them(server):
    call = ModelCall(model="openai/scripted", api_base=server.api_base, api_key="sk-test", max_retries=0)
    extractor = LLMExtractor(call=call, static_definition="s.", dynamic_definition="d.", ttl_seconds={"one_day": 1})
    now = datetime.now(UTC)
    said = [
        Message(role="user", content=SAID[0], created_at=now),
        Message(role="assistant", content="Sure.", created_at=now),
    ]
    said.append(Message(role="user", content=SAID[1], created_at=now))
    found = await extractor.extract(said, ExtractionContext(user_id="ana", now=now))
    assert [f.content for f in found.facts] == EXPECTED
    assert [f.message_indexes for f in found.facts] == [[0], [2]]

    system = prompts.RECONCILE_SYSTEM.format(today="2026-01-01")
    user = prompts.RECONCILE_USER.format(existing="[0] User likes tea (static, 2026-01-01)", new="[0] a\n[1] b")
    answer = httpx.post(
        f"{server.api_base}/chat/completions",
        json={"model": "x", "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
    ).json()
    reply = ReconcileReply.model_validate_json(answer["choices"][0]["message"]["content"])
    assert [(d.new, d.action) for d in reply.decisions] == [(0, "ADD"), (1, "ADD")]


async def test_shown_the_users_known_facts_our_extractor_gets_an_add_for_each_fact(server):
    call = ModelCall(model="openai/scripted", api_base=server.api_base, api_key="sk-test", max_retries=0)
    extractor = LLMExtractor(call=call, static_definition="s.", dynamic_definition="d.", ttl_seconds={"one_day": 1})
    now = datetime.now(UTC)
    known = [KnownFact(id="fact-tea", content="User likes tea", kind="static", updated_at=now)]
    said = [Message(role="user", content=SAID[0], created_at=now)]
    found = await extractor.extract(said, ExtractionContext(user_id="ana", now=now, known=known))
    assert [f.content for f in found.facts] == EXPECTED[:1]
    assert [f.decision for f in found.facts] == [StatedDecision(action="ADD", ids=[], considered=["fact-tea"])]


def test_an_unknown_prompt_is_refused_and_counted(server):
    before = httpx.get(f"{server.api_base}/calls").json()["unscripted"]
    answer = httpx.post(
        f"{server.api_base}/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert answer.status_code == 400
    assert httpx.get(f"{server.api_base}/calls").json()["unscripted"] == before + 1
