"""Clients that live for a whole module (a server process or a subprocess is slow to start) run in a thread's
event loop (an anyio portal); tests hand them async scenarios with `portal.call`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as portal:
        yield portal
