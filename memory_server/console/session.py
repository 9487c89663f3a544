"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie holding the id of the API key signed in with
(never its secret) and the CSRF token that every state-changing form must send back.

The cookie proves only who signed in: each request checks the key again through `Access.resume`, so a revoked key
ends its sessions at once. The signing secret is made on first use and kept in the data directory, so sessions
outlive a restart and no two installations share one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from memory_server.access import SESSION_SECONDS
from memory_server.files import write_whole

COOKIE = "memory_console"
MAX_AGE_SECONDS = SESSION_SECONDS
SECRET_FILE = "console_secret"
SECRET_BYTES = 32
CSRF_FIELD = "csrf"


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """`signed_in` with `key_id` None: signed in without a key, on a server open on loopback. `project_id`: the
    project chosen in the console (None: the key's own)."""

    csrf: str = field(default_factory=_token)
    signed_in: bool = False
    key_id: str | None = None
    project_id: int | None = None

    @property
    def id(self) -> str:
        """What names the session server-side (signing out): a hash of its CSRF token, which is its own."""
        return hashlib.sha256(self.csrf.encode()).hexdigest()

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


def signing_secret(data_dir: Path) -> bytes:
    """The data directory's console secret, made (readable by its owner only) the first time it is needed. It is
    written whole before it takes its name, so no request ever signs with a part of it (a full disk, or a request
    reading while another writes); one cut short by an older version is made again (its sessions end)."""
    path = data_dir / SECRET_FILE
    try:
        kept = path.read_bytes()
    except FileNotFoundError:
        kept = b""
    if len(kept) == SECRET_BYTES:
        return kept
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    if kept:
        write_whole(path, secret)
        return secret
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{SECRET_FILE}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secret)
        os.link(temporary, path)
    except FileExistsError:  # another request made it first
        return path.read_bytes()
    finally:
        os.unlink(temporary)
    return secret


class Sessions:
    def __init__(self, data_dir: Path, secret: str | None = None) -> None:
        key = secret.encode() if secret is not None else signing_secret(data_dir)
        self._signer = URLSafeTimedSerializer(key, salt="memory-server-console")

    def load(self, request: Request) -> Session | None:
        """The request's session, or None when it has none, or one that is forged or older than MAX_AGE_SECONDS."""
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            data = self._signer.loads(value, max_age=MAX_AGE_SECONDS)
            return Session(**data)
        except (BadSignature, TypeError):
            return None

    def save(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(
            COOKIE,
            self._signer.dumps(asdict(session)),
            max_age=MAX_AGE_SECONDS,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def sessions(request: Request) -> Sessions:
    """The app's `Sessions`, made on first use (the data directory exists once the service is open)."""
    state = request.app.state
    if getattr(state, "console_sessions", None) is None:
        secret = state.settings.server.console_secret
        state.console_sessions = Sessions(state.settings.data_dir, secret and secret.get_secret_value())
    return state.console_sessions
