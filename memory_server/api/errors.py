"""One JSON error shape for the whole HTTP API: {"error": {"code", "message", "field"?}}; under the console's
prefix, an HTML page instead, also for what is refused before a console route runs (Host, Origin, body size)."""

from __future__ import annotations

import html
import logging
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from memory_server.errors import InvalidJson, RateLimited, ServiceError, Unauthorized, Unavailable, from_validation

log = logging.getLogger(__name__)

CONSOLE_PREFIX = "/console"


def rendering_route(render: Callable[[ServiceError], Response]) -> type[APIRoute]:
    """A route class whose errors (domain, request validation, authentication) are answered by `render`: how a
    compatibility API's clients expect them, instead of our shape."""

    class ErrorRenderingRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def run(request: Request) -> Response:
                try:
                    return await handler(request)
                except ServiceError as exc:
                    return render(exc)
                except (RequestValidationError, ValidationError) as exc:
                    return render(from_validation(list(exc.errors())))
                except StarletteHTTPException as exc:
                    if (unreadable := unreadable_body(exc)) is None:
                        raise
                    return render(unreadable)

            return run

    return ErrorRenderingRoute


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def service_error_response(exc: ServiceError, path: str = "") -> Response:
    """A domain error as HTTP, with the headers its status calls for."""
    response = answer(path, exc.status, exc.code, exc.message, exc.field)
    response.headers.update(error_headers(exc))
    return response


def answer(path: str, status: int, code: str, message: str, field: str | None = None) -> Response:
    """`error_response`, or a plain HTML page for a request to the console (`path`), whose users are browsers."""
    if path != CONSOLE_PREFIX and not path.startswith(CONSOLE_PREFIX + "/"):
        return error_response(status, code, message, field)
    text = html.escape(message)
    page = (
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Error {status}</title></head>\n'
        f'<body>\n<h1>Error {status}</h1>\n<p class="error" role="alert">{text}</p>\n'
        f'<p><a href="{CONSOLE_PREFIX}">Back to the console</a></p>\n</body>\n</html>\n'
    )
    return HTMLResponse(page, status_code=status)


def error_headers(exc: ServiceError) -> dict[str, str]:
    """The headers a domain error's status calls for, whatever the body (JSON here, a console page)."""
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, Unavailable):
        return {"Retry-After": "5"}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def unreadable_body(exc: StarletteHTTPException) -> InvalidJson | None:
    """What FastAPI's generic "There was an error parsing the body" was caused by, said plainly; None for any other
    HTTP error. `json.loads` fails these with errors other than JSONDecodeError, so FastAPI names none of them."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        why = (
            f"it is not UTF-8 (byte 0x{cause.object[cause.start]:02x} at offset {cause.start}): "
            "send JSON encoded as UTF-8, whatever the content-type's charset says"
        )
    elif isinstance(cause, RecursionError):
        why = "it is nested too deeply"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        why = f"a number is too long (at most {sys.get_int_max_str_digits()} digits)"
    else:
        return None
    return InvalidJson(f"request body is not valid JSON: {why}")


def validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    return service_error_response(from_validation(errors))


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> Response:
        return service_error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        return validation_response(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (unreadable := unreadable_body(exc)) is not None:
            return service_error_response(unreadable, request.url.path)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        return answer(request.url.path, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return answer(request.url.path, 500, "internal", "internal error; the server log has the details")
