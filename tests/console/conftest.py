"""A real server with two keys (admin, viewer) and a seeded user, shared by a module's console tests."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from extractors.base import ExtractionError
from tests.fakes import FAKE, fact
from tests.servers import running_server, server_settings

USER = "ana"


@dataclass(frozen=True)
class Server:
    url: str
    admin: str
    viewer: str
    failed_request: str

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _seed(url: str) -> Server:
    """An admin key made while the server is open (its last open call), a viewer key, then a user with facts and
    analysed messages, and a request that failed."""
    with httpx.Client(base_url=url, timeout=30) as open_client:
        admin = open_client.post("/v1/keys", json={"role": "admin", "name": "ops"}).json()["key"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30) as api:
        viewer = api.post("/v1/keys", json={"role": "viewer", "name": "watcher"}).json()["key"]
        assert api.put("/v1/config", json={"extractor": "fake"}).status_code == 200
        FAKE.replies.clear()
        FAKE.queue([fact("Ana lives in Lisbon")], [fact("Ana is planning a trip to Rome", "dynamic")])
        for text in ("I love my new flat in Lisbon, it is wonderful", "The trip planning is awful and stressful"):
            body = {"user_id": USER, "messages": [{"role": "user", "content": text}], "wait": True}
            assert api.post("/v1/interactions", json=body).json()["status"] == "done"
        FAKE.queue(ExtractionError("the model answered nonsense"), ExtractionError("the model answered nonsense"))
        body = {"user_id": USER, "messages": [{"role": "user", "content": "This one fails"}], "wait": True}
        failed = api.post("/v1/interactions", json=body).json()
        assert failed["status"] == "failed", failed
    return Server(url, admin, viewer, failed["request_id"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("console") / "data"
    with server_settings(data) as settings, running_server(settings) as url:
        yield _seed(url)


CHROMIUM = shutil.which("chromium")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def signed_in(server: Server, key: str) -> tuple[httpx.Client, str]:
    """A client signed in with `key`, and its session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30)
    token = CSRF.search(client.get("/console/login").text).group(1)
    response = client.post("/console/login", data={"csrf": token, "key": key})
    assert response.status_code == 303, response.text
    return client, CSRF.search(client.get("/console").text).group(1)
