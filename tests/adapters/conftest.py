"""Fixtures the compatibility routers' tests share."""

from __future__ import annotations

import pytest

from memory_server import keys
from tests.conftest import use_extractor


@pytest.fixture
async def bearer(app, client, fake, settings) -> dict[str, str]:
    """An editor key of our tenant as Supermemory's SDKs send it, made once the fake extractor is set."""
    await use_extractor(client, "fake")  # while the server is open: no key exists yet
    secret = (await keys.create(app.state.service.core.db, settings.tenant, "editor")).key
    return {"Authorization": f"Bearer {secret}"}
