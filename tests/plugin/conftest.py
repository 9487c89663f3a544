"""One real server for the plugin's tests (a module's worth of hooks and MCP calls share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import running_server, server_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    with server_settings(tmp_path_factory.mktemp("hook") / "data") as settings, running_server(settings) as url:
        yield url
