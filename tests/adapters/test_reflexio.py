"""Reflexio's own Python client (`reflexio-client` from the package index) against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
import types
from collections.abc import Iterator

import httpx
import pytest
import requests

from memory_server.access import Access
from memory_server.config import Settings
from memory_server.context import Scope
from tests.servers import running_server, server_settings


def _import_reflexio() -> types.ModuleType:
    """reflexio-client 0.2.2 (the last release for Python 3.11) imports `reflexio.defaults`, which its wheel
    lacks; give it the one constant it reads (the value later releases ship)."""
    try:
        importlib.import_module("reflexio.defaults")
    except ModuleNotFoundError:
        defaults = types.ModuleType("reflexio.defaults")
        defaults.DEFAULT_AGENT_VERSION = "agent-v0"  # type: ignore[attr-defined]
        sys.modules["reflexio.defaults"] = defaults
    return importlib.import_module("reflexio")


reflexio = _import_reflexio()


class Server:
    def __init__(self, url: str, keys: dict[str, str]) -> None:
        self.url = url
        self.keys = keys

    def client(self, key: str = "admin") -> reflexio.ReflexioClient:
        return reflexio.ReflexioClient(api_key=self.keys.get(key, key), url_endpoint=self.url, timeout=60)


async def _make_keys(settings: Settings) -> dict[str, str]:
    """Keys made beside the running server, as `memory-server keys create` makes them."""
    async with Access.opened(settings) as access:
        made = {}
        for name, tenant, role in (
            ("admin", "acme", "admin"),
            ("viewer", "acme", "viewer"),
            ("other", "zeta", "admin"),
            ("config", "cfg", "admin"),
        ):
            made[name] = (await access.create_key(Scope(tenant, "operator:test"), role, name)).key
        return made


@pytest.fixture(scope="module")
def server(tmp_path_factory, monkeypatch_module) -> Iterator[Server]:
    for name in ("REFLEXIO_API_KEY", "REFLEXIO_API_URL", "IS_TEST_ENV"):
        monkeypatch_module.delenv(name, raising=False)
    with server_settings(tmp_path_factory.mktemp("reflexio") / "data") as settings, running_server(settings) as url:
        yield Server(url, asyncio.run(_make_keys(settings)))


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _contents(profiles) -> list[str]:
    return sorted(p.content for p in profiles)


def _error(exc: pytest.ExceptionInfo[requests.HTTPError]) -> tuple[int, dict]:
    return exc.value.response.status_code, exc.value.response.json()["error"]


def test_publish_waiting_for_extraction_gives_profiles_the_client_reads(server):
    client = server.client()
    sent = int(time.time())
    published = client.publish_interaction(
        "ana",
        [
            {"role": "User", "content": "I'm a nurse and I live in Berlin.", "created_at": sent},
            {"role": "Assistant", "content": "Nice to meet you!"},
        ],
        source="onboarding",
        session_id="s1",
        wait_for_response=True,
    )
    assert published.success and published.request_id
    assert (published.profiles_added, published.profiles_updated) == (2, 0)

    profiles = client.get_profiles(user_id="ana", force_refresh=True).user_profiles
    assert _contents(profiles) == ["User is a nurse", "User lives in Berlin"]
    for profile in profiles:
        assert profile.user_id == "ana" and profile.profile_id
        assert profile.generated_from_request_id == published.request_id
        assert profile.source == "onboarding"
        assert profile.status is None  # Reflexio's "current"
        assert profile.profile_time_to_live == "infinity" and profile.expiration_timestamp == 4102444800
        assert profile.extractor_names == ["default_profile_extractor"]
        assert abs(profile.last_modified_timestamp - sent) < 60


def test_publish_without_waiting_is_queued_and_extracted_later(server):
    client = server.client()
    queued = client.publish_interaction("bo", [{"role": "User", "content": "I live in Porto."}])
    assert queued.success and queued.request_id and queued.profiles_added is None
    for _ in range(200):
        profiles = client.get_profiles(user_id="bo", force_refresh=True).user_profiles
        if profiles:
            break
        time.sleep(0.05)
    assert [(p.content, p.generated_from_request_id) for p in profiles] == [("User lives in Porto", queued.request_id)]


def test_search_finds_a_clearly_relevant_profile_at_the_client_default_threshold(server):
    client = server.client()
    client.publish_interaction(
        "cy", [{"role": "User", "content": "I'm a vegetarian and I have a dog named Rex."}], wait_for_response=True
    )
    found = client.search_profiles(user_id="cy", query="what diet does the user follow?")
    assert found.success
    assert found.user_profiles and found.user_profiles[0].content == "User is a vegetarian"
    pets = client.search_profiles(user_id="cy", query="pets", top_k=1)
    assert [p.content for p in pets.user_profiles] == ["User has a dog named Rex"]
    assert client.search_profiles(user_id="cy", query="vegetarian", source="elsewhere").user_profiles == []
    assert client.search_profiles(user_id="nobody", query="vegetarian").user_profiles == []


def test_change_log_groups_each_request_with_a_stable_integer_id(server):
    client = server.client()
    first = client.publish_interaction("dee", [{"role": "User", "content": "I live in Oslo."}], wait_for_response=True)
    second = client.publish_interaction(
        "dee", [{"role": "User", "content": "I live in Bergen."}], wait_for_response=True
    )
    assert (second.profiles_added, second.profiles_updated) == (0, 1)

    logs = [log for log in client.get_profile_change_log().profile_change_logs if log.user_id == "dee"]
    assert [log.request_id for log in logs] == [first.request_id, second.request_id]
    assert [_contents(log.added_profiles) for log in logs] == [["User lives in Oslo"], ["User lives in Bergen"]]
    assert [_contents(log.removed_profiles) for log in logs] == [[], ["User lives in Oslo"]]
    assert logs[1].removed_profiles[0].status == "archived"
    assert logs[0].id < logs[1].id and all(log.mentioned_profiles == [] for log in logs)
    again = [log for log in client.get_profile_change_log().profile_change_logs if log.user_id == "dee"]
    assert [log.id for log in again] == [log.id for log in logs]

    archived = client.get_profiles(user_id="dee", status_filter=["archived"], force_refresh=True).user_profiles
    assert [(p.content, p.status) for p in archived] == [("User lives in Oslo", "archived")]


def test_delete_by_id_and_by_search_query(server):
    client = server.client()
    client.publish_interaction(
        "eve",
        [{"role": "User", "content": "I'm a photographer. I live in Lyon. I'm allergic to peanuts."}],
        wait_for_response=True,
    )
    profiles = {p.content: p for p in client.get_profiles(user_id="eve", force_refresh=True).user_profiles}
    assert set(profiles) == {"User is a photographer", "User lives in Lyon", "User is allergic to peanuts"}

    by_id = client.delete_profile("eve", profile_id=profiles["User lives in Lyon"].profile_id, wait_for_response=True)
    assert by_id.success and profiles["User lives in Lyon"].profile_id in by_id.message
    by_query = client.delete_profile("eve", search_query="peanut allergy", wait_for_response=True)
    assert by_query.success and by_query.message == "deleted 1 profile(s)"

    left = client.get_profiles(user_id="eve", force_refresh=True).user_profiles
    assert [p.content for p in left] == ["User is a photographer"]
    removed = [log for log in client.get_profile_change_log().profile_change_logs if log.user_id == "eve"][-2:]
    assert [_contents(log.removed_profiles) for log in removed] == [
        ["User lives in Lyon"],
        ["User is allergic to peanuts"],
    ]
    assert [log.request_id for log in removed] == ["", ""]

    with pytest.raises(requests.HTTPError) as gone:
        client.delete_profile("eve", profile_id=profiles["User lives in Lyon"].profile_id + "x", wait_for_response=True)
    assert _error(gone)[0] == 404
    with pytest.raises(requests.HTTPError) as neither:
        client.delete_profile("eve", wait_for_response=True)
    assert _error(neither) == (
        422,
        {"code": "invalid_input", "message": "profile_id: give profile_id or search_query", "field": "profile_id"},
    )


def test_config_round_trips_through_the_client_and_sets_the_extraction_config(server):
    client = server.client("config")  # a tenant of its own: its sources setting would stop the others' extraction
    untouched = client.get_config()
    assert untouched.storage_config is not None
    assert client.set_config(untouched)["success"] is True
    v1 = httpx.get(f"{server.url}/v1/config", headers={"X-API-Key": server.keys["config"]}).json()["config"]
    assert v1["extraction_definition_prompt"] is None  # the default stays the default

    config = client.get_config()
    [extractor] = config.profile_extractor_configs
    extractor.extraction_definition_prompt = "Extract the customer's product preferences and budget."
    extractor.context_prompt = "Customer service conversations of an electronics shop."
    extractor.should_extract_profile_prompt_override = "when the customer mentions products or prices"
    extractor.request_sources_enabled = ["support_chat"]
    answer = client.set_config(config)
    assert answer["success"] is True and answer["msg"].startswith("extraction config version ")

    [back] = client.get_config().profile_extractor_configs
    assert back.extraction_definition_prompt == "Extract the customer's product preferences and budget."
    assert back.context_prompt == "Customer service conversations of an electronics shop."
    assert back.should_extract_profile_prompt_override == "when the customer mentions products or prices"
    assert back.request_sources_enabled == ["support_chat"]
    v1 = httpx.get(f"{server.url}/v1/config", headers={"X-API-Key": server.keys["config"]}).json()["config"]
    assert v1["context_prompt"] == "Customer service conversations of an electronics shop."
    assert v1["should_extract_prompt"] == "when the customer mentions products or prices"
    assert v1["sources"] == ["support_chat"]

    config.profile_extractor_configs[0].request_sources_enabled = ["bad source"]
    with pytest.raises(requests.HTTPError) as bad:
        client.set_config(config)
    status, error = _error(bad)
    assert (status, error["field"]) == (422, "profile_extractor_configs.0.request_sources_enabled.0")
    acme = httpx.get(f"{server.url}/v1/config", headers={"X-API-Key": server.keys["admin"]}).json()["config"]
    assert acme["sources"] == [] and acme["context_prompt"] is None  # another tenant's config is its own


def test_keys_roles_and_tenants_are_those_of_v1(server):
    server.client().publish_interaction("fay", [{"role": "User", "content": "I live in Rome."}], wait_for_response=True)
    [profile] = server.client().get_profiles(user_id="fay", force_refresh=True).user_profiles

    with pytest.raises(requests.HTTPError) as no_key:
        server.client("").get_profiles(user_id="fay")
    assert _error(no_key)[0] == 401
    with pytest.raises(requests.HTTPError) as wrong_key:
        server.client("msk_wrong").get_profiles(user_id="fay")
    assert _error(wrong_key)[0] == 401

    viewer = server.client("viewer")
    assert [p.content for p in viewer.search_profiles(user_id="fay", query="Rome").user_profiles] == [profile.content]
    with pytest.raises(requests.HTTPError) as read_only:
        viewer.delete_profile("fay", profile_id=profile.profile_id, wait_for_response=True)
    assert _error(read_only)[0] == 403
    with pytest.raises(requests.HTTPError) as not_admin:
        viewer.get_config()
    assert _error(not_admin)[0] == 403

    other = server.client("other")
    assert other.get_profiles(user_id="fay", force_refresh=True).user_profiles == []
    assert all(log.user_id != "fay" for log in other.get_profile_change_log().profile_change_logs)
    with pytest.raises(requests.HTTPError) as foreign:
        other.delete_profile("fay", profile_id=profile.profile_id, wait_for_response=True)
    assert _error(foreign)[0] == 404
    with pytest.raises(requests.HTTPError) as other_user:
        server.client().delete_profile("gus", profile_id=profile.profile_id, wait_for_response=True)
    assert _error(other_user)[0] == 404
    assert len(server.client().get_profiles(user_id="fay", force_refresh=True).user_profiles) == 1


def test_bad_interactions_are_422_naming_the_field_as_reflexio_names_it(server):
    client = server.client()
    with pytest.raises(requests.HTTPError) as robot:
        client.publish_interaction("hal", [{"role": "User", "content": ""}, {"role": "Robot", "content": "beep"}])
    assert _error(robot)[1]["field"] == "interaction_data_list.1.role"
    with pytest.raises(requests.HTTPError) as empty:
        client.publish_interaction("hal", [{"role": "User", "content": "  "}])
    assert _error(empty) == (
        422,
        {
            "code": "invalid_input",
            "message": "interaction_data_list: no interaction has content: give each a content",
            "field": "interaction_data_list",
        },
    )
    with pytest.raises(requests.HTTPError) as nul:
        client.publish_interaction("hal", [{"role": "User", "content": ""}, {"role": "User", "content": "a\x00b"}])
    assert _error(nul)[1]["field"] == "interaction_data_list.1.content"
    with pytest.raises(requests.HTTPError) as bad_user:
        client.publish_interaction("hal/../x", [{"role": "User", "content": "hi"}])
    assert _error(bad_user)[1]["field"] == "user_id"

    skipped = client.publish_interaction(
        "hal",
        [{"role": "User", "content": ""}, {"role": "User", "content": "I live in Kyoto."}],
        wait_for_response=True,
    )
    assert skipped.warnings == ["interaction_data_list.0: skipped: it has no content"]
    assert skipped.profiles_added == 1


def test_set_config_also_takes_the_single_extractor_later_clients_send(server):
    headers = {"Authorization": f"Bearer {server.keys['other']}"}
    later = {  # what reflexio-client 0.2.3+ sends: one extractor, window/stride instead of batch settings
        "storage_config": {"storage_type": "sqlite", "db_path": None},
        "profile_extractor_config": {"extraction_definition_prompt": "Only food preferences.", "context_prompt": None},
        "window_size": 10,
        "stride_size": 5,
    }
    r = httpx.post(f"{server.url}/api/set_config", json=later, headers=headers)
    assert r.status_code == 200 and r.json()["success"] is True
    answer = httpx.get(f"{server.url}/api/get_config", headers=headers).json()
    assert answer["profile_extractor_config"]["extraction_definition_prompt"] == "Only food preferences."
    assert answer["profile_extractor_configs"][0]["extraction_definition_prompt"] == "Only food preferences."
