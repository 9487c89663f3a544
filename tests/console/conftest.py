"""A real server with two keys (admin, viewer) and a seeded user, shared by a module's console tests; a browser
tab for the tests that drive one."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from extractors.base import ExtractionError
from memory_server.config import WebhookSettings
from tests.fakes import FAKE, fact
from tests.servers import running_server, server_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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
        FAKE.queue(
            [fact("Ana lives in Lisbon")], [fact("Ana is planning a trip to Rome", "dynamic", message_indexes=[0])]
        )
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
    with server_settings(data) as settings:
        # Webhooks may reach a receiver on 127.0.0.1, and retry at once.
        hooks = WebhookSettings(allow_private=True, backoff_base_seconds=0.05, backoff_max_seconds=0.2, max_attempts=2)
        with running_server(settings.model_copy(update={"webhooks": hooks})) as url:
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


ERROR_STATUS = re.compile(r"status of 4\d\d")


class Operator:
    """A browser tab that records console errors and screenshots each page it checks."""

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        self.page, self.base, self.shots = page, base, shots
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str, *, refused: bool = False) -> None:
        """Screenshot the page; no console errors (but the 4xx status of a page that refuses, when `refused`)."""
        self.page.screenshot(path=self.shots / f"{name}.png", full_page=True)
        errors = [e for e in self.errors if not (refused and ERROR_STATUS.search(e))]
        assert errors == [], errors
        self.errors.clear()

    def sign_in(self, key: str) -> None:
        self.go("/console/login")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()

    def csrf(self) -> str:
        return self.page.locator("input[name=csrf]").first.input_value()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from the OS packages (never downloaded), driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def operator(browser: Browser, server: Server, tmp_path: Path) -> Iterator[Operator]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Operator(context.new_page(), server.url, tmp_path)
    context.close()
