"""Plugins from another installed distribution are found through their entry points and used, without
editing the server; each gets its own validated options and only the credentials it declares."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from extractors.registry import EXTRACTORS, PluginError, available
from memory_server.config import EmbedderSettings, ExtractionConfig, LLMSettings, Settings
from memory_server.extraction import build_extractor
from memory_server.index.embedders import create_embedder
from tests.conftest import install_distribution, publish, use_extractor

ACME = '''
from pydantic import BaseModel, ConfigDict

from extractors.base import CandidateFact


class AcmeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = "User says"
    roles: list[str] = ["user"]


class AcmeExtractor:
    """Turns every user message into one fact, word for word."""

    name = "acme"
    Options = AcmeOptions

    def __init__(self, **options):
        self.options = AcmeOptions(**options)

    async def extract(self, messages, context):
        return [
            CandidateFact(content=f"{self.options.prefix}: {m.content}", kind="static", message_indexes=[i])
            for i, m in enumerate(messages)
            if m.role in self.options.roles
        ]


class UpperEmbedder:
    """A fake embedder: one dimension per letter."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        batch_size: int = 32

    model_id = "acme-letters"
    dim = 26

    def __init__(self, batch_size=32):
        self.batch_size = batch_size

    async def embed(self, texts):
        import numpy as np

        rows = np.zeros((len(texts), 26), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    rows[i, ord(ch) - 97] += 1
            rows[i] /= max(1.0, float(np.linalg.norm(rows[i])))
        return rows
'''


@pytest.fixture
def acme_installed(tmp_path, monkeypatch) -> Path:
    """A distribution `acme-memory-plugins` installed into a directory on sys.path, as pip would lay it out."""
    site = tmp_path / "site"
    entry_points = (
        "[memory_server.extractors]\nacme = acme_plugins:AcmeExtractor\n\n"
        "[memory_server.embedders]\nacme-letters = acme_plugins:UpperEmbedder\n"
    )
    install_distribution(site, monkeypatch, "acme-memory-plugins", "acme_plugins", ACME, entry_points)
    yield site
    sys.modules.pop("acme_plugins", None)


def test_an_installed_extractor_and_embedder_are_listed(acme_installed):
    assert {"acme", "rules", "llm"} <= set(available())
    embedder = create_embedder(EmbedderSettings(provider="acme-letters"))
    assert embedder.model_id == "acme-letters" and embedder.dim == 26


async def test_an_installed_extractor_is_used_by_the_server_with_its_own_options(acme_installed, client):
    await use_extractor(client, "acme")
    r = await client.put("/v1/config", json={"extractor_options": {"prefix": "Ana said"}})
    assert r.status_code == 200, r.text
    job = await publish(client, "ana", "the sky is green")
    assert job["status"] == "done", job
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert [f["content"] for f in facts] == ["Ana said: the sky is green"]
    changes = (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"]
    assert changes[0]["actor"].endswith("/extractor:acme")


async def test_an_extractor_option_it_does_not_take_is_refused_when_saved(acme_installed, client):
    await use_extractor(client, "acme")
    r = await client.put("/v1/config", json={"extractor_options": {"colour": "red"}})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "extractor_options.colour"
    assert (await client.get("/v1/config")).json()["config"]["extractor_options"] == {}


def test_only_an_extractor_that_declares_the_model_call_gets_the_key():
    settings = Settings(llm=LLMSettings(model="openai/gpt-4o-mini", api_key="sk-secret"))
    rules = build_extractor(settings, ExtractionConfig(extractor="rules", roles=["user", "assistant"]))
    assert rules.options.model_dump() == {"roles": ["user", "assistant"]}
    llm = build_extractor(settings, ExtractionConfig(extractor="llm"))
    assert llm.options.call.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(llm.options)


def test_an_unknown_plugin_names_what_exists():
    with pytest.raises(PluginError, match=r"unknown extractor 'nope': choose one of .*rules"):
        EXTRACTORS.load("nope")
