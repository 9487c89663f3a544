"""Console pages over plain HTTP where a browser adds nothing: HTML for every error, export, purge confirmation,
re-extraction progress, restoring a config version, project choice and a limited key."""

from __future__ import annotations

import time

from memory_server.config import ExtractionConfig
from memory_server.console.config_page import parse
from memory_server.models import Backfill
from memory_server.segments import Segments
from memory_server.store import changelog as changesql
from tests.console.conftest import USER, Server, signed_in


def test_malformed_ids_and_unknown_pages_answer_with_html(server: Server) -> None:
    client, _ = signed_in(server, server.admin)
    for path in (f"/console/users/{'x' * 300}", "/console/requests/bad%20id", "/console/no-such-page"):
        response = client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
        assert '<p class="error" role="alert">' in response.text


def test_fact_histories_are_read_for_the_whole_page_at_once(server: Server, monkeypatch) -> None:
    with server.api(server.admin) as api:
        fact_id = next(f["id"] for f in api.get(f"/v1/users/{USER}/facts").json()["items"] if "Lisbon" in f["content"])
        for city in ("Porto", "Faro"):
            fact_id = api.put(f"/v1/memories/{fact_id}/", json={"text": f"Ana lives in {city}"}).json()["id"]
    calls = []
    original = changesql.of_facts
    monkeypatch.setattr(changesql, "of_facts", lambda *args: calls.append(args[3]) or original(*args))
    client, _ = signed_in(server, server.admin)
    page = client.get(f"/console/users/{USER}").text
    assert len(calls) == 3  # one query per step along the longest chain (3 versions), not one chain per fact
    history = page[page.index(f'id="fact-{fact_id}"') :].split("</details>")[0]
    assert "History (5)" in history  # added; then updated twice, each superseding the version before
    events = [e for e in ("add", "update", "supersede") for _ in range(history.count(f"<td>{e}</td>"))]
    assert sorted(events) == ["add", "supersede", "supersede", "update", "update"]


def test_a_wrong_purge_confirmation_is_shown_next_to_the_field(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    response = client.post(f"/console/users/{USER}/purge", data={"csrf": token, "confirm": "nope"})
    assert response.status_code == 422
    assert 'id="error-confirm"' in response.text and "type the user&#39;s id" in response.text
    assert 'aria-invalid="true"' in response.text
    with server.api(server.admin) as api:
        assert api.get(f"/v1/users/{USER}").status_code == 200


def test_export_downloads_the_users_export(server: Server) -> None:
    client, _ = signed_in(server, server.admin)
    response = client.get(f"/console/users/{USER}/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f"attachment; filename*=UTF-8''{USER}.json"
    body = response.json()
    assert body["user_id"] == USER and body["format"].startswith("memory-server/user-export")
    assert {f["content"] for f in body["facts"]} >= {"Ana lives in Lisbon"}
    viewer, _ = signed_in(server, server.viewer)
    assert viewer.get(f"/console/users/{USER}/export").status_code == 403


def test_reextracting_a_user_shows_progress_that_stops_reloading_when_done(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    empty = client.post("/console/reextract", data={"csrf": token, "user_id": "nobody"})
    assert empty.status_code == 404 and 'id="error-user_id"' in empty.text
    started = client.post("/console/reextract", data={"csrf": token, "user_id": USER})
    assert started.status_code == 303
    progress = started.headers["location"]
    assert "since=" in progress and f"user={USER}" in progress
    deadline = time.monotonic() + 20
    page = client.get(progress).text
    while 'http-equiv="refresh"' in page and time.monotonic() < deadline:
        time.sleep(0.2)
        page = client.get(progress).text
    assert 'http-equiv="refresh"' not in page
    assert "1 of 1 re-extraction request finished" in page


def test_restoring_a_config_version_makes_a_new_equal_version(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    with server.api(server.admin) as api:
        before = api.get("/v1/config").json()
        api.put("/v1/config", json={"temperature": 0.9})
        assert (
            client.post("/console/config/restore", data={"csrf": token, "version": str(before["version"])}).status_code
            == 303
        )
        after = api.get("/v1/config").json()
    assert after["version"] == before["version"] + 2
    assert after["config"] == before["config"]
    missing = client.post("/console/config/restore", data={"csrf": token, "version": "999"})
    assert missing.status_code == 404 and "no config version 999" in missing.text


def test_a_project_that_is_not_there_is_refused_next_to_the_field(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    for typed, status, message in (("abc", 422, "positive integer"), ("999", 404, "no project 999")):
        response = client.post("/console/projects", data={"csrf": token, "project": typed})
        assert response.status_code == status
        assert 'id="error-project"' in response.text and message in response.text
    assert "Project 1</a>" in client.get("/console").text


def test_a_key_limited_to_one_project_sees_only_its_own(server: Server) -> None:
    with server.api(server.admin) as api:
        project = api.post("/v1/projects", json={"name": "limited"}).json()
        key = api.post("/v1/keys", json={"role": "admin", "project_id": project["id"]}).json()["key"]
    client, token = signed_in(server, key)
    page = client.get("/console/projects").text
    assert "limited" in page and "(default)" not in page and "limited to project" in page
    refused = client.post("/console/projects", data={"csrf": token, "project": "1"})
    assert refused.status_code == 403 and "limited to project" in refused.text
    assert client.get("/console/users").text.count("/console/users/") == 0


def test_segment_and_webhook_forms_show_errors_next_to_their_fields(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    bad_json = client.post("/console/segments", data={"csrf": token, "name": "x", "condition": "{"})
    assert bad_json.status_code == 422 and 'id="error-condition"' in bad_json.text and "not valid JSON" in bad_json.text
    no_name = client.post("/console/segments", data={"csrf": token, "name": "", "condition": '{"all": []}'})
    assert no_name.status_code == 422 and 'id="error-name"' in no_name.text
    no_events = client.post("/console/webhooks", data={"csrf": token, "url": "https://example.com/hook"})
    assert no_events.status_code == 422 and 'id="error-events"' in no_events.text
    bad_url = client.post("/console/webhooks", data={"csrf": token, "url": "ftp://x", "event:request.done": "on"})
    assert bad_url.status_code == 422 and 'id="error-url"' in bad_url.text
    with server.api(server.admin) as api:
        assert api.get("/v1/segments").json() == [] and api.get("/v1/webhooks").json() == []
    viewer, _ = signed_in(server, server.viewer)
    assert viewer.get("/console/segments").status_code == 403 and viewer.get("/console/webhooks").status_code == 403
    assert "takes the editor role, and\nthis key is a viewer" in viewer.get("/console/reextract").text


def test_reextracting_everyone_follows_every_users_request(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    started = client.post("/console/reextract", data={"csrf": token, "everyone": "1"})
    assert started.status_code == 303 and "user=" not in started.headers["location"]
    page = client.get(started.headers["location"]).text
    assert "Everyone:" in page and "re-extraction request" in page


def test_a_key_of_the_whole_tenant_without_admin_types_the_project_id(server: Server) -> None:
    with server.api(server.admin) as api:
        project = api.post("/v1/projects", json={"name": "typed"}).json()
        editor = api.post("/v1/keys", json={"role": "editor", "name": "typist"}).json()["key"]
    client, token = signed_in(server, editor)
    assert 'id="project"' in client.get("/console/projects").text
    assert client.post("/console/projects", data={"csrf": token, "project": str(project["id"])}).status_code == 303
    assert f"Project {project['id']}</a>" in client.get("/console/users").text


def test_editing_and_deleting_a_segment_and_deleting_a_webhook(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    with server.api(server.admin) as api:
        seg = api.post("/v1/segments", json={"name": "old", "condition": {"attribute": "plan", "eq": "pro"}}).json()
        hook = api.post("/v1/webhooks", json={"url": "https://receiver.invalid/h", "events": ["segment.exited"]}).json()
        bad = {"csrf": token, "name": "new", "condition": '{"attribute": "plan", "between": 1}'}
        refused = client.post(f"/console/segments/{seg['id']}", data=bad)
        assert refused.status_code == 422 and 'id="error-condition"' in refused.text
        assert api.get(f"/v1/segments/{seg['id']}").json()["name"] == "old"
        good = {**bad, "condition": '{"attribute": "plan", "eq": "team"}'}
        assert client.post(f"/console/segments/{seg['id']}", data=good).status_code == 303
        assert api.get(f"/v1/segments/{seg['id']}").json()["condition"] == {"attribute": "plan", "eq": "team"}
        assert client.post(f"/console/segments/{seg['id']}/delete", data={"csrf": token}).status_code == 303
        assert client.post(f"/console/webhooks/{hook['id']}/delete", data={"csrf": token}).status_code == 303
        assert api.get(f"/v1/segments/{seg['id']}").status_code == 404
        assert api.get(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_a_key_made_in_the_console_may_be_limited_to_its_project(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    made = client.post("/console/keys", data={"csrf": token, "role": "viewer", "name": "scoped", "limited": "on"})
    assert made.status_code == 201
    with server.api(server.admin) as api:
        key = next(k for k in api.get("/v1/keys").json() if k["name"] == "scoped")
    assert key["project_id"] == 1


def test_every_setting_to_fix_is_named_at_once_with_a_json_error_among_them() -> None:
    config = ExtractionConfig().model_dump()
    wrong = {"temperature": "hot", "ttl_seconds": "{not json", "known_facts_limit": "-5"}
    fields = {name: "" for name in config} | wrong
    changes, errors = parse(config, fields)
    assert changes == {}
    assert set(errors) >= {"temperature", "ttl_seconds", "known_facts_limit"}, errors
    assert errors["ttl_seconds"].startswith("not valid JSON")


def test_a_page_past_the_end_of_a_list_goes_to_its_last_page(server: Server) -> None:
    client, _ = signed_in(server, server.admin)
    for path in ("/console/users?q=a&page=999", "/console/requests?status=failed&page=999"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].endswith("page=1"), response.headers["location"]
        assert "q=a" in response.headers["location"] or "status=failed" in response.headers["location"]


def test_the_request_of_a_fact_stated_directly_shows_what_it_changed(server: Server) -> None:
    with server.api(server.admin) as api:
        stated = api.post("/v1/facts", json={"user_id": "sam", "content": "User keeps bees"})
    client, _ = signed_in(server, server.admin)
    page = client.get(f"/console/requests/{stated.headers['x-request-id']}")
    assert page.status_code == 200
    assert "no extraction job ran" in page.text and "<li>User keeps bees</li>" in page.text
    assert client.get("/console/requests/no-such-request").status_code == 404


def test_a_user_page_says_when_a_list_is_cut_short(server: Server) -> None:
    with server.api(server.admin) as api:
        for i in range(101):
            api.post("/v1/facts", json={"user_id": "many", "content": f"User's lucky number {i} is {i * 7}"})
    client, _ = signed_in(server, server.admin)
    page = client.get("/console/users/many").text
    assert "The newest 100 facts are shown" in page and "The newest 100 changes are shown" in page
    assert "messages are shown" not in page
    assert "facts are shown" not in client.get(f"/console/users/{USER}").text


def test_a_purged_users_page_says_when_and_by_whom(server: Server) -> None:
    with server.api(server.admin) as api:
        fact = api.post("/v1/facts", json={"user_id": "gone-user", "content": "User keeps bees"})
        assert fact.status_code == 201, fact.text
        assert api.delete("/v1/users/gone-user").status_code == 200
    client, _ = signed_in(server, server.admin)
    page = client.get("/console/users/gone-user")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Purged on " in page.text and "the change log keeps what happened" in page.text
    assert "<td>purge</td>" in page.text and "<td>add</td>" in page.text
    assert "keeps bees" not in page.text
    never = client.get("/console/users/never-seen")
    assert never.status_code == 404 and "user_id: no user never-seen" in never.text


def test_filtering_by_a_segment_still_being_evaluated_says_so(server: Server, monkeypatch) -> None:
    with server.api(server.admin) as api:
        made = api.post("/v1/segments", json={"name": "talkers", "condition": {"aggregate": "message_count", "gte": 1}})
        assert made.status_code == 201, made.text
        segment = made.json()["id"]
        deadline = time.monotonic() + 20
        while api.get(f"/v1/segments/{segment}").json()["backfill"]["state"] != "done":
            assert time.monotonic() < deadline, "the backfill did not finish"
            time.sleep(0.05)
    client, _ = signed_in(server, server.admin)
    assert "still being evaluated" not in client.get("/console/users", params={"segment": segment}).text

    original = Segments.list

    async def filling(self, scope):
        return [
            s.model_copy(update={"backfill": Backfill(state="running", done=3, total=40)})
            for s in await original(self, scope)
        ]

    monkeypatch.setattr(Segments, "list", filling)
    page = client.get("/console/users", params={"segment": segment}).text
    assert "Segment talkers is still being evaluated (3 of 40 users so far)" in page
    assert "still being evaluated" not in client.get("/console/users").text


def test_numbers_in_forms_are_ascii_digits_that_fit_a_row_id(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    for path, data in (
        ("/console/projects", {"project": "²"}),
        ("/console/projects", {"project": "9" * 30}),
        ("/console/config/restore", {"version": "²"}),
        ("/console/config/restore", {"version": "9" * 30}),
    ):
        response = client.post(path, data={"csrf": token, **data})
        assert response.status_code == 422, (path, data, response.text)
        assert response.headers["content-type"].startswith("text/html"), (path, data)
    forget = client.post(
        f"/console/users/{USER}/forget", data={"csrf": token, "query": "zebra oboe", "message_ids": "² ١ " + "9" * 30}
    )
    assert forget.status_code == 303, forget.text  # nothing matched, nothing went
    assert client.get("/console").status_code == 200  # the connection and the session are still there


def test_a_webhook_is_paused_and_resumed_from_its_page(server: Server) -> None:
    with server.api(server.admin) as api:
        hook = api.post("/v1/webhooks", json={"url": "https://example.com/paused", "events": ["request.done"]}).json()
    client, token = signed_in(server, server.admin)
    paused = client.post(f"/console/webhooks/{hook['id']}/enabled", data={"csrf": token, "enabled": "false"})
    assert paused.status_code == 303
    page = client.get(f"/console/webhooks/{hook['id']}").text
    assert "Paused: its events are not recorded" in page and ">Resume</button>" in page
    assert "(paused)" in client.get("/console/webhooks").text
    with server.api(server.admin) as api:
        assert api.get(f"/v1/webhooks/{hook['id']}").json()["enabled"] is False
    bad = client.post(f"/console/webhooks/{hook['id']}/enabled", data={"csrf": token, "enabled": "maybe"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    client.post(f"/console/webhooks/{hook['id']}/enabled", data={"csrf": token, "enabled": "true"})
    assert ">Pause</button>" in client.get(f"/console/webhooks/{hook['id']}").text
    with server.api(server.admin) as api:
        assert api.get(f"/v1/webhooks/{hook['id']}").json()["enabled"] is True
        api.delete(f"/v1/webhooks/{hook['id']}")
