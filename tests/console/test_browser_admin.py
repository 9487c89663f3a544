"""The console's admin work in a real browser (see test_browser.py for how): switching project, restoring a
config version, deleting by meaning after a preview, segments and webhooks."""

from __future__ import annotations

import json
import re
import time

import pytest

from extractors.base import ExtractionError
from tests.console.conftest import CHROMIUM, USER, Operator, Server
from tests.fakes import FAKE
from tests.webhook_receiver import Receiver

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]


def test_switching_project_changes_what_every_page_shows(operator: Operator, server: Server) -> None:
    with server.api(server.admin) as api:
        project = api.post("/v1/projects", json={"name": "beta"}).json()
    operator.sign_in(server.admin)
    page = operator.page
    page.get_by_role("link", name="Project 1").click()
    operator.check("projects")
    page.get_by_role("button", name="Work in project beta").click()
    assert page.get_by_role("link", name=f"Project {project['id']}").is_visible()
    assert page.locator(".stats dd").first.inner_text() == "0"
    operator.go("/console/users")
    assert page.get_by_role("link", name=USER, exact=True).count() == 0
    operator.check("users-in-beta")
    operator.go("/console/projects")
    page.get_by_role("button", name=re.compile(r"Work in project default")).click()
    operator.go("/console/users")
    assert page.get_by_role("link", name=USER, exact=True).is_visible()


def test_restoring_an_old_config_version(operator: Operator, server: Server) -> None:
    with server.api(server.admin) as api:
        old = api.get("/v1/config").json()
        api.put("/v1/config", json={"temperature": 1.5})
    operator.sign_in(server.admin)
    operator.go("/console/config")
    page = operator.page
    page.get_by_role("button", name=f"Restore version {old['version']}").click()
    restored = old["version"] + 2
    assert page.get_by_role("heading", level=1).inner_text().endswith(f"version {restored}")
    row = page.locator(f"#version-{restored} .diff tbody tr")
    assert row.inner_text().split() == ["temperature", "1.5", str(old["config"]["temperature"])]
    operator.check("config-restored")
    with server.api(server.admin) as api:
        assert api.get("/v1/config").json()["config"] == old["config"]


def test_saving_one_setting_leaves_a_multi_line_prompt_as_it_was(operator: Operator, server: Server) -> None:
    """Browsers send a textarea's line breaks as CRLF and drop a newline right after its opening tag."""
    prompt = "\nFirst line after a blank.\nSecond line."
    with server.api(server.admin) as api:
        api.put("/v1/config", json={"context_prompt": prompt, "temperature": 0.0})
    operator.sign_in(server.admin)
    operator.go("/console/config")
    page = operator.page
    page.get_by_label("temperature").fill("0.4")
    page.get_by_role("button", name="Save as a new version").click()
    version = int(page.get_by_role("heading", level=1).inner_text().rsplit(" ", 1)[1])
    assert page.locator(f"#version-{version} .diff tbody tr").all_inner_texts() == ["temperature\t0.0\t0.4"]
    page.get_by_label("context_prompt").fill("One.\nTwo.")
    page.get_by_role("button", name="Save as a new version").click()
    operator.check("config-prompt")
    with server.api(server.admin) as api:
        config = api.get("/v1/config").json()
    assert (config["version"], config["config"]["context_prompt"]) == (version + 1, "One.\nTwo.")


def test_delete_by_meaning_shows_what_will_go_first(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go(f"/console/users/{USER}")
    page = operator.page
    page.get_by_label("What to forget").fill("Ana is planning a trip to Rome")
    page.get_by_role("button", name="Preview what will go").click()
    assert page.locator(".preview-facts li").all_inner_texts() == ["Ana is planning a trip to Rome"]
    assert "trip planning is awful" in page.locator(".preview-messages").inner_text()
    operator.check("forget-preview")
    with server.api(server.admin) as api:  # the preview deleted nothing
        assert "Ana is planning a trip to Rome" in [
            f["content"] for f in api.get(f"/v1/users/{USER}/facts").json()["items"]
        ]
    page.get_by_role("button", name=re.compile(r"^Delete 1 fact and 1 message")).click()
    assert page.get_by_role("heading", name=f"User {USER}").is_visible()
    assert page.locator(".fact", has_text="trip to Rome").count() == 0
    operator.check("user-after-forget")
    assert "Ana is planning a trip to Rome" not in _facts(server)


def test_delete_by_meaning_deletes_only_what_the_preview_showed(operator: Operator, server: Server) -> None:
    def say(text: str) -> None:
        with server.api(server.admin) as api:
            body = {"user_id": "ben", "messages": [{"role": "user", "content": text}], "wait": True}
            assert api.post("/v1/interactions", json=body).json()["status"] == "done"

    def messages() -> list[str]:
        with server.api(server.admin) as api:
            return [e["content"] for e in api.get("/v1/users/ben/episodes").json()["items"]]

    say("My dog Rex loves running on the beach")
    operator.sign_in(server.admin)
    operator.go("/console/users/ben/forget?query=my+dog+Rex+on+the+beach&threshold=0.5")
    page = operator.page
    assert page.locator(".preview-messages li").count() == 1
    say("Rex the dog ran on the beach again today")  # arrives while the operator reads the preview
    page.get_by_role("button", name=re.compile(r"^Delete 0 facts and 1 message")).click()
    assert "changed since the preview" in page.locator("#error-query").inner_text()
    assert page.locator(".preview-messages li").count() == 2  # what matches now, to confirm again
    operator.check("forget-changed", refused=True)
    assert len(messages()) == 2  # nothing was deleted
    page.get_by_role("button", name=re.compile(r"^Delete 0 facts and 2 messages")).click()
    assert page.get_by_role("heading", name="User ben").is_visible()
    assert messages() == []


def _facts(server: Server) -> set[str]:
    with server.api(server.admin) as api:
        return {f["content"] for f in api.get(f"/v1/users/{USER}/facts").json()["items"]}


def test_a_segment_with_a_bad_condition_is_refused_by_the_field_then_a_good_one_fills(
    operator: Operator, server: Server
) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/segments")
    page = operator.page
    page.get_by_label("Name").fill("Talkative")
    page.get_by_label("Condition").fill(json.dumps({"aggregate": "message_count", "gte": "many"}))
    page.get_by_role("button", name="Create segment").click()
    assert "condition.gte" in page.locator("#error-condition").inner_text()
    assert page.get_by_label("Name").input_value() == "Talkative"
    operator.check("segment-invalid", refused=True)
    page.get_by_label("Condition").fill(json.dumps({"aggregate": "message_count", "gte": 1}))
    page.get_by_role("button", name="Create segment").click()
    assert page.get_by_role("heading", name="Segment Talkative").is_visible()
    page.get_by_role("link", name=USER, exact=True).wait_for(timeout=20_000)  # the page reloads during the backfill
    assert "done" in page.locator(".stats").inner_text()
    operator.check("segment")
    operator.go("/console/segments")
    operator.check("segments")
    operator.page.set_viewport_size({"width": 390, "height": 844})
    operator.check("segments-phone")


def test_a_webhook_shows_its_secret_once_and_redelivers(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/webhooks")
    page = operator.page
    with Receiver() as receiver:
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("request.failed").check()
        page.get_by_role("button", name="Create webhook").click()
        assert page.get_by_label("Signing secret").input_value().startswith("whsec_")
        operator.check("webhook-created")
        operator.go("/console/webhooks")
        assert page.get_by_label("Signing secret").count() == 0
        FAKE.queue(ExtractionError("the model answered nonsense"), ExtractionError("the model answered nonsense"))
        with server.api(server.admin) as api:
            body = {"user_id": USER, "messages": [{"role": "user", "content": "Fails again"}], "wait": True}
            assert api.post("/v1/interactions", json=body).json()["status"] == "failed"
        _wait_for(receiver, 1)
        page.get_by_role("link", name=receiver.url).click()
        page.get_by_role("cell", name="delivered").wait_for()
        operator.check("webhook-deliveries")
        page.get_by_role("button", name=re.compile("^Redeliver request.failed")).click()
        first, again = _wait_for(receiver, 2)
        assert first.headers["webhook-id"] == again.headers["webhook-id"]
        operator.check("webhook-redelivered")


def _wait_for(receiver: Receiver, count: int) -> list:
    deadline = time.monotonic() + 20
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.received) == count
    return list(receiver.received)
