"""Signing in with an API key (or, on a server open on loopback, without one) and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from memory_server.api.deps import client_address
from memory_server.api.errors import error_headers
from memory_server.console.session import CSRF_FIELD, Session, sessions
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, read_form, redirect, render
from memory_server.errors import Forbidden, RateLimited, Unauthorized

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _login_page(request: Request, session: Session, error: str | None = None, status: int = 200) -> Response:
    response = render(request, "login.html", status, csrf=session.csrf, error=error)
    sessions(request).save(response, session, request)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form; a browser without a session gets one here, for the form's CSRF token."""
    return _login_page(request, sessions(request).load(request) or Session())


@router.post("/login")
async def login(request: Request) -> Response:
    session = sessions(request).load(request)
    fields = await read_form(request)
    if session is None or not session.csrf_ok(fields.get(CSRF_FIELD)):
        raise Forbidden("the sign-in form's CSRF token is missing or wrong: reload the page and sign in again")
    service = request.app.state.service
    try:
        key_id = await service.access.sign_in(fields.get("key", "").strip() or None, client_address(request.scope))
    except (Unauthorized, RateLimited) as exc:
        response = _login_page(request, session, exc.message, exc.status)
        response.headers.update(error_headers(exc))
        return response
    response = redirect("")
    sessions(request).save(response, Session(signed_in=True, key_id=key_id), request)  # a new CSRF token too
    return response


@router.post("/logout")
async def logout(caller: Caller, _: Form) -> Response:
    """Sign out here and wherever a copy of this session's cookie is."""
    request = caller.request
    await caller.service.access.sign_out(caller.session.id)
    response = redirect("/login")
    sessions(request).save(response, Session(), request)
    return response
