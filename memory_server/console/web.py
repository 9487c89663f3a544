"""What every console page shares: the signed-in caller, its form's CSRF check, rendering, and error pages.

Console routes use `ConsoleRoute`, so a domain error becomes an HTML page with its status (a form's own errors
are shown next to its fields by the page itself), and a session that is missing or whose key was revoked goes
back to the sign-in page.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from memory_server.api.deps import client_address
from memory_server.api.errors import CONSOLE_PREFIX, error_headers
from memory_server.console.session import CSRF_FIELD, Session, sessions
from memory_server.context import Scope
from memory_server.errors import Forbidden, NotFound, ServiceError, Unauthorized, from_validation
from memory_server.service import MemoryService

PREFIX = CONSOLE_PREFIX
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _page_query(params: Mapping[str, str], page: int) -> str:
    """The list's query string, at page `page`."""
    return urlencode({**params, "page": page})


def _pretty_json(value: object) -> str:
    """JSON to read (the page escapes it): `tojson` would show an apostrophe as \\u0027."""
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)


templates.env.filters["pagequery"] = _page_query
templates.env.filters["pretty_json"] = _pretty_json
# The pages run no script and load nothing from elsewhere; a stray inline style or script is refused.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Unauthorized):
    """No signed-in session: the page sends the browser to sign in."""


@dataclass
class Console:
    """The caller of a console page: the service, their scope (checked again on this request) and session."""

    request: Request
    service: MemoryService
    scope: Scope
    session: Session

    @property
    def can_edit(self) -> bool:
        return self.scope.allows("editor")

    @property
    def is_admin(self) -> bool:
        return self.scope.allows("admin")

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(self.request, template, status, console=self, **values)


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(path: str) -> RedirectResponse:
    """After a form: see the page again with GET (303), so a reload never posts twice."""
    return RedirectResponse(f"{PREFIX}{path}", status_code=303)


def pages_of(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


def to_last_page(caller: Console, pages: int) -> RedirectResponse:
    """A list asked past its end (an old link, a page number typed): its last page instead."""
    path = caller.request.url.path.removeprefix(PREFIX)
    return redirect(f"{path}?{_page_query(caller.request.query_params, pages)}")


async def console(request: Request) -> Console:
    session = sessions(request).load(request)
    if session is None or not session.signed_in:
        raise SignInRequired("sign in to use the console")
    service: MemoryService = request.app.state.service
    scope = await service.access.resume(session.key_id, client_address(request.scope), session.id)
    if session.project_id is not None:
        scope = await service.projects.enter(scope, session.project_id, field="project")
    return Console(request, service, scope, session)


async def form(request: Request, caller: Annotated[Console, Depends(console)]) -> dict[str, str]:
    """The posted form's fields, refused (403) unless it carries this session's CSRF token."""
    fields = await read_form(request)
    if not caller.session.csrf_ok(fields.get(CSRF_FIELD)):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and send the form again")
    return fields


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the console's forms send nothing else)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


Caller = Annotated[Console, Depends(console)]
Form = Annotated[dict[str, str], Depends(form)]


class ConsoleRoute(APIRoute):
    """A console route: errors become HTML pages, a missing or revoked session a way back to sign in."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized:
                return redirect("/login")
            except (ValidationError, RequestValidationError) as exc:  # a malformed id in the URL, a bad form
                return error_page(request, from_validation(list(exc.errors())))
            except ServiceError as exc:
                return error_page(request, exc)

        return run


def errors_by_field(exc: ServiceError, names: Collection[str]) -> dict[str, str]:
    """A domain error about one of a form's fields (`names`) as the form shows it, next to that field; an error
    about anything else is raised again, for its own page."""
    name = (exc.field or "").split(".")[0]
    if name not in names:
        raise exc
    return {name: exc.message}


def error_page(request: Request, exc: ServiceError) -> HTMLResponse:
    response = render(request, "error.html", exc.status, error=exc)
    response.headers.update(error_headers(exc))
    return response


fallback = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@fallback.get("/{path:path}")
async def not_found(_: Caller, path: str) -> Response:
    """A console address that names no page: an HTML page, like every console error."""
    raise NotFound(f"the console has no page at /console/{path}")
