"""A bounded schemathesis run over the OpenAPI schema: no 5xx, and every 4xx has the one JSON error shape.

The server runs for real (uvicorn on 127.0.0.1 in a thread, with its own event loop and lifespan);
schemathesis generates valid and invalid requests for every operation from the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
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
        assert set(body) in ({"error"}, {"error", "detail"}), body  # mem0's routes add the `detail` its client reads
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


EDGE_TEXT = ["\ud800", "a\udfffb", "a/b", "../../etc/passwd", ".", str(2**63), "-1"]
EDGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0999-01-01T00:00:00Z", "9999-12-31T00:00:00Z"]
EDGE_INTS = [2**63 - 1, 2**63, -(2**63) - 1, 2**64]


def _edges(value: Any, in_body: bool) -> Iterator[Any]:
    """Values at the edges of what the server can represent, of the same JSON type as `value`."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield from EDGE_INTS
    elif isinstance(value, str):
        yield from (t for t in EDGE_TEXT + EDGE_TIMES if in_body or not _has_surrogate(t))


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _mutants(value: Any, in_body: bool) -> Iterator[Any]:
    """Copies of `value` with one leaf, at any depth, replaced by an edge value."""
    if isinstance(value, dict):
        for key, item in value.items():
            for mutant in _mutants(item, in_body):
                yield {**value, key: mutant}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for mutant in _mutants(item, in_body):
                yield [*value[:i], mutant, *value[i + 1 :]]
    else:
        yield from _edges(value, in_body)


def _send(base_url: str, method: str, path: str, body: Any, query: Any, path_parameters: Any) -> httpx.Response:
    """Sent with httpx, not schemathesis, which cannot encode a lone surrogate; JSON escapes it as `\\ud800`."""
    path = path.format(**{k: quote(str(v), safe="") for k, v in (path_parameters or {}).items()})
    content = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    return httpx.request(method, base_url + path, params=query, content=content, headers=headers, timeout=30)


def test_edge_values_in_every_leaf_get_a_4xx_or_are_handled(live_server):
    """Valid requests with one body, query or path value at a time replaced by a surrogate, a 64-bit boundary,
    an id with `/` or dots, or a date at the calendar's edge: never a 5xx."""
    for operation in _operations(live_server):

        @hypothesis.settings(
            max_examples=3,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def run(case) -> None:
            for part in ("body", "query", "path_parameters"):
                value = getattr(case, part)
                if not isinstance(value, dict):
                    continue
                for mutant in _mutants(value, in_body=part == "body"):
                    body = case.body if isinstance(case.body, dict | list) else None  # else schemathesis' NOT_SET
                    request = {"body": body, "query": case.query, "path_parameters": case.path_parameters}
                    response = _send(live_server, case.method, case.path, **{**request, part: mutant})
                    try:
                        _check(response)
                    except AssertionError as exc:
                        raise AssertionError(f"{case.method} {case.path} {part}={mutant!r}: {exc}") from None

        run()
