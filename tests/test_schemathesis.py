"""A bounded schemathesis run over the OpenAPI schema: no 5xx, and every 4xx has the one JSON error shape.

The server runs for real (uvicorn on 127.0.0.1 in a thread, with its own event loop and lifespan);
schemathesis generates valid and invalid requests for every operation from the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from memory_server.config import LimitSettings
from tests.servers import running_server, server_settings


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[str]:
    with server_settings(tmp_path_factory.mktemp("schemathesis") / "data") as settings:
        settings.limits = LimitSettings(requests_per_minute=100_000)
        with running_server(settings) as url:
            yield url


def _operations(base_url: str) -> list:
    loaded = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


def _check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_one_error_shape(live_server, mode):
    """Driven by hypothesis directly: schemathesis' pytest plugin does not run under pytest 9 yet."""
    operations = _operations(live_server)
    assert len(operations) >= 20
    skipped: list[str] = []
    for operation in operations:

        @hypothesis.settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:
            response = case.call(base_url=live_server, timeout=30)
            try:
                _check(response)
            except AssertionError as exc:
                raise AssertionError(f"{case.method} {case.formatted_path}: {exc}") from None

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing about it can be made invalid
            skipped.append(operation.label)
    bodies = {"POST /v1/interactions", "POST /v1/profile", "POST /v1/search", "POST /v1/facts", "PUT /v1/config"}
    assert not bodies & set(skipped), skipped  # every operation with a body got invalid input
