"""Console sessions and refusals over plain HTTP (no browser): the cookie's flags, CSRF, roles, revoked keys."""

from __future__ import annotations

import time

import httpx

from tests.console.conftest import CSRF, USER, Server, signed_in
from tests.servers import running_server, server_settings


def test_the_session_cookie_is_signed_httponly_strict_and_holds_no_secret(server: Server) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    token = CSRF.search(client.get("/console/login").text).group(1)
    response = client.post("/console/login", data={"csrf": token, "key": server.admin})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert server.admin.lower() not in cookie
    client.cookies.set("memory_console", client.cookies["memory_console"][:-2] + "xx", path="/console")
    assert client.get("/console").headers["location"].endswith("/console/login")


def test_sign_in_without_the_forms_csrf_token_is_refused(server: Server) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.get("/console/login")
    assert client.post("/console/login", data={"key": server.admin}).status_code == 403


def test_a_viewer_cannot_change_the_config_or_purge(server: Server) -> None:
    client, token = signed_in(server, server.viewer)
    assert client.post("/console/config", data={"csrf": token, "temperature": "1"}).status_code == 403
    assert client.post(f"/console/users/{USER}/purge", data={"csrf": token, "confirm": USER}).status_code == 403
    assert client.get("/console/keys").status_code == 403
    with server.api(server.admin) as api:
        assert api.get(f"/v1/users/{USER}").status_code == 200


def test_revoking_the_key_ends_its_console_sessions(server: Server) -> None:
    with server.api(server.admin) as api:
        made = api.post("/v1/keys", json={"role": "editor", "name": "short-lived"}).json()
        client, _ = signed_in(server, made["key"])
        assert client.get("/console/users").status_code == 200
        api.delete(f"/v1/keys/{made['id']}")
    assert client.get("/console/users").headers["location"].endswith("/console/login")


def test_actions_are_logged_with_the_key_as_actor(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    with server.api(server.admin) as api:
        fact_id = api.get(f"/v1/users/{USER}/facts").json()["items"][0]["id"]
        sent = client.post(f"/console/users/{USER}/facts/{fact_id}/delete", data={"csrf": token})
        assert sent.status_code == 303
        changes = api.get("/v1/changelog", params={"user_id": USER}).json()["items"]
        admin_id = next(k["id"] for k in api.get("/v1/keys").json() if k["name"] == "ops")
    assert (changes[0]["event"], changes[0]["fact_id"], changes[0]["actor"]) == ("delete", fact_id, f"key:{admin_id}")


def test_an_open_server_on_loopback_signs_in_without_a_key_until_a_key_is_made(tmp_path) -> None:
    with server_settings(tmp_path / "data") as settings, running_server(settings) as url:
        client = httpx.Client(base_url=url, timeout=30)
        token = CSRF.search(client.get("/console/login").text).group(1)
        assert client.post("/console/login", data={"csrf": token, "key": ""}).status_code == 303
        assert "local · admin" in client.get("/console").text
        assert (tmp_path / "data" / "console_secret").stat().st_mode & 0o077 == 0
        assert "The first key you create closes that" in client.get("/console/keys").text
        httpx.post(f"{url}/v1/keys", json={"role": "admin"}, timeout=30)
        assert client.get("/console").headers["location"].endswith("/console/login")


def test_the_user_page_shows_what_the_latest_profile_returned(server: Server) -> None:
    with server.api(server.viewer) as api:
        answer = api.post("/v1/profile", json={"user_id": USER, "q": "where does Ana live"})
        fact_id = answer.json()["searchResults"]["results"][0]["id"]
    client, _ = signed_in(server, server.viewer)
    for _ in range(100):  # the log is written about a second after the call
        page = client.get(f"/console/users/{USER}").text
        if answer.headers["X-Request-Id"] in page:
            break
        time.sleep(0.05)
    assert answer.headers["X-Request-Id"] in page
    assert "where does Ana live" in page and f'href="#fact-{fact_id}"' in page


def test_servers_given_one_console_secret_accept_each_others_sessions(tmp_path) -> None:
    from starlette.requests import Request

    from memory_server.console.session import COOKIE, Session, Sessions

    secret = "s" * 40
    one, other = Sessions(tmp_path / "a", secret), Sessions(tmp_path / "b", secret)
    alone = Sessions(tmp_path / "c")
    cookie = one._signer.dumps({"csrf": "t", "signed_in": True, "key_id": "k1", "project_id": None})
    request = Request({"type": "http", "headers": [(b"cookie", f"{COOKIE}={cookie}".encode())]})
    assert other.load(request) == Session(csrf="t", signed_in=True, key_id="k1")
    assert alone.load(request) is None  # its own secret, from its data directory
    assert not (tmp_path / "a" / "console_secret").exists()


def test_the_retrieval_log_links_only_facts_the_page_shows(server: Server) -> None:
    with server.api(server.admin) as api:
        fact_id = api.post("/v1/facts", json={"user_id": "rita", "content": "User collects stamps"}).json()["id"]
        asked = api.post("/v1/profile", json={"user_id": "rita", "q": "stamps"}).headers["X-Request-Id"]
        client, _ = signed_in(server, server.admin)
        for _ in range(100):  # the log is written about a second after the call
            if asked in client.get("/console/users/rita").text:
                break
            time.sleep(0.05)
        assert f'href="#fact-{fact_id}"' in client.get("/console/users/rita").text
        assert api.delete(f"/v1/facts/{fact_id}").status_code == 200
    page = client.get("/console/users/rita").text
    assert fact_id in page and f'href="#fact-{fact_id}"' not in page  # no anchor left to point at


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    copy = httpx.Client(base_url=server.url, timeout=30)
    copy.cookies.set("memory_console", client.cookies["memory_console"], path="/console")
    assert copy.get("/console/keys").status_code == 200

    assert client.post("/console/logout", data={"csrf": token}).headers["location"].endswith("/console/login")
    assert copy.get("/console/keys").headers["location"].endswith("/console/login")
    refused = copy.post("/console/keys", data={"csrf": token, "role": "admin", "name": "after-logout"})
    assert refused.status_code == 303 and refused.headers["location"].endswith("/console/login")
    with server.api(server.admin) as api:
        assert "after-logout" not in [k["name"] for k in api.get("/v1/keys").json()]

    again, _ = signed_in(server, server.admin)  # signing in anew makes another session
    assert again.get("/console/keys").status_code == 200


def test_what_is_refused_before_a_console_route_runs_is_an_html_page(server: Server) -> None:
    client, token = signed_in(server, server.admin)
    cross = client.post("/console/keys", data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and cross.headers["content-type"].startswith("text/html")
    assert "requests from pages of https://evil.example are not allowed" in cross.text
    big = client.post(
        "/console/config", content=b"x" * 2_000_001, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert big.status_code == 413 and big.headers["content-type"].startswith("text/html")
    api = httpx.post(f"{server.url}/v1/keys", json={}, headers={"Origin": "https://evil.example"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "invalid_origin"  # the API keeps JSON
