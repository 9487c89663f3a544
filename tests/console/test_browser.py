"""The console as an operator uses it: headless Chromium from the OS packages (never downloaded), driven by
Playwright against a real server. Every page visited is saved as a screenshot and checked for console errors."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import CHROMIUM, USER, Operator, Server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]


def test_a_bad_key_is_refused_and_a_good_one_signs_in(operator: Operator, server: Server) -> None:
    operator.sign_in("msk_not-a-real-key")
    assert "not valid" in operator.page.get_by_role("alert").inner_text()
    operator.check("login-refused", refused=True)
    operator.sign_in(server.admin)
    assert operator.page.get_by_role("heading", name="Overview").is_visible()
    assert operator.page.locator(".stats").inner_text().count("\n") > 4
    operator.check("overview")
    operator.page.get_by_role("button", name="Sign out").click()
    operator.go("/console/users")
    assert operator.page.url.endswith("/console/login")


def test_users_list_and_user_page(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/users?q=an")
    operator.check("users")
    operator.page.get_by_role("link", name=USER, exact=True).click()
    page = operator.page
    assert page.locator(".fact", has_text="Ana lives in Lisbon").is_visible()
    assert page.locator("svg.chart polyline").count() == 1
    assert page.get_by_role("heading", name="Messages and signals").is_visible()
    operator.check("user")
    operator.page.set_viewport_size({"width": 390, "height": 844})
    operator.check("user-phone")


def test_config_bad_value_is_shown_next_to_its_field_and_a_good_one_makes_a_version(
    operator: Operator, server: Server
) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/config")
    page = operator.page
    before = page.get_by_role("heading", level=1).inner_text()
    page.get_by_label("temperature").fill("7")
    page.get_by_role("button", name="Save as a new version").click()
    assert "less than or equal to 2" in page.locator("#error-temperature").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == before
    operator.check("config-invalid", refused=True)
    page.get_by_label("temperature").fill("0.3")
    page.get_by_role("button", name="Save as a new version").click()
    version = int(page.get_by_role("heading", level=1).inner_text().rsplit(" ", 1)[1])
    assert version == int(before.rsplit(" ", 1)[1]) + 1
    row = page.locator(f"#version-{version} .diff tbody tr")
    assert row.inner_text().split() == ["temperature", "0.0", "0.3"]
    operator.check("config")
    with server.api(server.admin) as api:
        assert api.get("/v1/config").json()["config"]["temperature"] == 0.3


def test_deleting_a_fact_removes_it_from_the_page_and_the_api(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go(f"/console/users/{USER}")
    operator.page.get_by_role("button", name="Delete fact: Ana lives in Lisbon").click()
    assert operator.page.locator(".fact", has_text="Ana lives in Lisbon").count() == 0
    operator.check("user-after-delete")
    with server.api(server.admin) as api:
        facts = api.get(f"/v1/users/{USER}/facts").json()["items"]
        assert "Ana lives in Lisbon" not in [f["content"] for f in facts]
        changes = api.get("/v1/changelog", params={"user_id": USER}).json()["items"]
        assert any(c["event"] == "delete" and c["actor"].startswith("key:") for c in changes)


def test_a_viewer_sees_no_edit_controls_and_a_forged_post_is_refused(operator: Operator, server: Server) -> None:
    operator.sign_in(server.viewer)
    assert operator.page.get_by_role("link", name="Extraction config").count() == 0
    operator.go("/console/users")
    operator.check("users-as-viewer")
    operator.go(f"/console/users/{USER}")
    assert operator.page.get_by_role("button", name=re.compile("Delete|Purge")).count() == 0
    operator.check("user-as-viewer")
    with server.api(server.admin) as api:
        fact_id = api.get(f"/v1/users/{USER}/facts").json()["items"][0]["id"]
    forged = operator.page.request.post(
        f"{server.url}/console/users/{USER}/facts/{fact_id}/delete", form={"csrf": operator.csrf()}
    )
    assert forged.status == 403
    with server.api(server.admin) as api:
        assert api.get(f"/v1/facts/{fact_id}").json()["status"] == "active"


def test_a_form_without_its_csrf_token_is_refused(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    with server.api(server.admin) as api:
        fact_id = api.get(f"/v1/users/{USER}/facts").json()["items"][0]["id"]
    sent = operator.page.request.post(f"{server.url}/console/users/{USER}/facts/{fact_id}/delete", form={})
    assert sent.status == 403
    with server.api(server.admin) as api:
        assert api.get(f"/v1/facts/{fact_id}").json()["status"] == "active"


def test_retrying_a_failed_request(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/requests?status=failed")
    operator.check("requests")
    operator.page.get_by_role("link", name=server.failed_request).click()
    assert "the model answered nonsense" in operator.page.locator(".details").inner_text()
    assert operator.page.get_by_role("heading", name="What it changed").count() == 0  # it changed nothing
    operator.check("request-failed")
    operator.page.get_by_role("button", name="Retry").click()
    with server.api(server.admin) as api:
        status = api.get(f"/v1/requests/{server.failed_request}", params={}).json()["status"]
    assert status in ("queued", "running", "done")
    operator.check("request-retried")


def test_keys_page_shows_a_new_secret_once(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go("/console/keys")
    operator.page.get_by_label("Name").fill("temp")
    operator.page.get_by_role("button", name="Create key").click()
    secret = operator.page.get_by_label("Secret").input_value()
    operator.check("keys-created")
    with server.api(secret) as api:
        assert api.get("/v1/users").status_code == 200
    operator.go("/console/keys")
    assert operator.page.get_by_label("Secret").count() == 0
    operator.page.get_by_role("button", name="Revoke key temp").click()
    operator.check("keys")
    with server.api(secret) as api:
        assert api.get("/v1/users").status_code == 401


def test_purge_needs_the_typed_user_id(operator: Operator, server: Server) -> None:
    operator.sign_in(server.admin)
    operator.go(f"/console/users/{USER}")
    operator.page.get_by_label(re.compile("to remove everything")).fill("wrong")
    operator.page.get_by_role("button", name="Purge user").click()
    assert "type the user's id" in operator.page.get_by_role("alert").inner_text()
    operator.check("purge-refused", refused=True)
    operator.go(f"/console/users/{USER}")
    operator.page.get_by_label(re.compile("to remove everything")).fill(USER)
    operator.page.get_by_role("button", name="Purge user").click()
    assert operator.page.url.endswith("/console/users")
    operator.check("users-after-purge")
    with server.api(server.admin) as api:
        assert api.get(f"/v1/users/{USER}").status_code == 404


def test_long_unbroken_text_wraps_and_the_change_log_shows_it_as_written(operator: Operator, server: Server) -> None:
    with server.api(server.admin) as api:
        for content in ("User's code is " + "x" * 3000, "User goes to St. Mary's"):
            assert api.post("/v1/facts", json={"user_id": "wide", "content": content}).status_code in (200, 201)
    operator.sign_in(server.admin)
    operator.go("/console/users/wide")
    assert operator.page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert any("St. Mary's" in text for text in operator.page.locator("pre").all_inner_texts())
    assert "\\u0027" not in operator.page.content()
    operator.check("long-text")
